"""The billing API (payment lines, invoice PDF, notices) and the console's Cobrança and
Avise-me pages with their roles."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.billing import boleto, service
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.text_pt import local_time
from sincro.wishes import service as wishes
from sincro.wishes.schemas import WishIn
from tests.billing.test_dunning import Recorder, add_customer, add_receivable
from tests.console.support import sign_in
from tests.factories import make_key, make_location, make_product

PASSWORD = "senha-forte-123"


@pytest.fixture
def world(db: Database, settings: Settings) -> dict[str, int]:
    s = settings.model_copy(
        update={"billing_pix_key": "+5511999998888", "billing_send_from_hour": 0,
                "billing_send_until_hour": 24}
    )  # fmt: skip
    now = utcnow()
    due = local_time(now, "America/Sao_Paulo").date() - dt.timedelta(days=1)  # Palmas: UTC−3
    add_customer(db, "TO1", "TO", "Palmas")
    open_id = add_receivable(db, "R-OPEN", "TO1", due=due, issued=None)
    month_ago = due - dt.timedelta(days=30)
    paid_id = add_receivable(
        db, "R-PAID", "TO1", due=month_ago, status="paid", balance="0", paid=month_ago, issued=None
    )
    with db.write() as session:
        service.run_dunning(session, s, now=now, send=Recorder())
        for role, email in (("billing", "cobranca@x.example"), ("agent", "atendente@x.example"),
                            ("store", "loja@x.example")):  # fmt: skip
            user = create_user(session, email, f"Usuária {role}", PASSWORD, Role.admin)
            user.role = role
        make_location(session, code="LJ-PMW", city="Palmas", state="TO")
        make_product(session, sku="FONE-BT-01", name="Fone Bluetooth")
    with db.write() as session:
        wishes.create_wish(
            session,
            WishIn(email="to1@exemplo.com.br", sku="FONE-BT-01", location="online"),
            max_open=5,
        )
    return {"open": open_id, "paid": paid_id}


@pytest.fixture
def client(world: dict[str, int], settings: Settings) -> Iterator[TestClient]:
    s = settings.model_copy(update={"billing_pix_key": "+5511999998888"})
    with TestClient(create_app(s)) as c:
        yield c


def test_payment_invoice_and_notices_api(
    client: TestClient, world: dict[str, int], db: Database
) -> None:
    with db.write() as session:
        admin = {"X-API-Key": make_key(session, Role.admin)}
        channel = {"X-API-Key": make_key(session, Role.channel)}
    rid = world["open"]
    pay = client.get(f"/v1/billing/receivables/{rid}/payment", headers=admin)
    assert pay.status_code == 200, pay.text
    body = pay.json()
    assert body["barcode"] == boleto.barcode_from_digitable(body["digitable_line"])
    assert body["barcode"][19:44] == boleto.bb_free_field("1234567", rid, "17")
    assert body["pix_code"].startswith("000201") and "+5511999998888" in body["pix_code"]
    pdf = client.get(f"/v1/billing/receivables/{rid}/invoice.pdf", headers=admin)
    assert pdf.headers["content-type"] == "application/pdf"
    assert "NF-R-OPEN" in pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    notices = client.get(f"/v1/billing/receivables/{rid}/notices", headers=admin).json()
    assert [(n["step"], n["status"]) for n in notices] == [("overdue_1", "queued")]
    missing = client.get("/v1/billing/receivables/999999/payment", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "id"
    assert client.get(f"/v1/billing/receivables/{rid}/payment", headers=channel).status_code == 403


def _nav(html: str) -> list[str]:
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    return re.findall(r">([^<>]+)</a>", nav)


def test_each_role_sees_its_pages(client: TestClient) -> None:
    """The billing role: Cobrança with the steps and the chart; agents: Avise-me."""
    assert sign_in(client, "cobranca@x.example", PASSWORD).status_code == 303
    page = client.get("/console/billing")
    assert page.status_code == 200
    assert "Cobrança" in _nav(page.text) and "Estoque (SKUs)" not in _nav(page.text)
    assert "Avise-me" not in _nav(page.text)
    assert "NF-R-OPEN" in page.text and "Vencida há 1 dia" in page.text
    assert "R$ 129,90" in page.text and "Palmas/TO" in page.text
    spec = json.loads(
        re.search(r'id="notices-per-day-data">(.*?)</script>', page.text, re.S).group(1)  # type: ignore[union-attr]
    )
    today = local_time(utcnow(), "America/Sao_Paulo").date()
    assert spec["labels"][-1] == today.strftime("%d/%m")
    assert sum(sum(s["data"]) for s in spec["series"]) == 1
    overdue = client.get("/console/billing", params={"status": "paid"})
    assert "NF-R-PAID" in overdue.text and "NF-R-OPEN" not in overdue.text
    assert client.get("/console/wishes").status_code == 403

    # agents see the wish list, not billing; stores see neither
    client.cookies.clear()
    assert sign_in(client, "atendente@x.example", PASSWORD).status_code == 303
    page = client.get("/console/wishes")
    assert page.status_code == 200
    assert "FONE-BT-01" in page.text and "Cliente TO1" in page.text and "Online" in page.text
    assert client.get("/console/billing").status_code == 403
    client.cookies.clear()
    assert sign_in(client, "loja@x.example", PASSWORD).status_code == 303
    assert client.get("/console/billing").status_code == 403
    assert client.get("/console/wishes").status_code == 403


def test_cli_writes_the_invoice_and_prints_how_to_pay(
    world: dict[str, int], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sincro.billing.cli import billing_app
    from sincro.config import reset_settings

    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_BILLING_PIX_KEY", "+5511999998888")
    reset_settings()
    target = tmp_path / "f.pdf"
    result = CliRunner().invoke(billing_app, ["invoice", str(world["open"]), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF-")
    assert (
        "linha digitável: 00190.00009" in result.output
        and "pix copia e cola: 000201" in result.output
    )
    missing = CliRunner().invoke(billing_app, ["invoice", "999999"])
    assert missing.exit_code != 0 and "not found" in missing.output


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
