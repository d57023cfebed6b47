"""The console's report pages: charts' data in the page (no inline script), tables, the
pt-BR Excel CSV, role checks and the schedules form."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import types
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.console.support import csrf_of, sign_in
from tests.reports.data import seed

PASSWORD = "senha-forte-123"
CHART_RE = re.compile(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', re.S)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as session:
        seed(session)
        for role in ("admin", "billing", "marketing"):
            create_user(session, f"{role}@sincro.example", role.title(), PASSWORD, Role(role))
    with TestClient(create_app(settings)) as client:
        yield client


def as_role(client: TestClient, role: str) -> TestClient:
    assert sign_in(client, f"{role}@sincro.example", PASSWORD).status_code == 303
    return client


def charts(html: str) -> dict[str, dict]:
    return {name: json.loads(body) for name, body in CHART_RE.findall(html)}


def test_defaulters_page_draws_buckets_and_ufs(client: TestClient) -> None:
    page = as_role(client, "billing").get("/console/reports/defaulters?as_of=2026-03-31")
    assert page.status_code == 200
    assert "R$ 1.130,00" in page.text
    found = charts(page.text)
    assert found["aging-chart"]["series"][0]["data"] == [160.0, 270.0, 300.0, 400.0]
    assert found["uf-chart"]["labels"] == ["SP", "RJ", "??"]
    assert 'data-chart="uf-chart-data"' in page.text
    assert "<script>" not in page.text  # CSP: no inline scripts
    assert page.headers["content-security-policy"].count("script-src 'self'") == 1


def test_new_customers_and_billing_pages(client: TestClient) -> None:
    as_role(client, "admin")
    page = client.get("/console/reports/new-customers?start=2026-01-01&end=2026-03-01&grain=month")
    assert page.status_code == 200
    chart = charts(page.text)["new-customers-chart"]
    assert chart["stacked"] and chart["labels"] == ["01/2026", "02/2026", "03/2026"]
    assert {s["label"]: s["data"] for s in chart["series"]}["Sudeste"] == [2, 1, 0]
    billing = client.get("/console/reports/billing?start=2026-01&end=2026-03&as_of=2026-03-31")
    assert billing.status_code == 200
    line = charts(billing.text)["billing-chart"]
    assert line["series"][0]["data"] == [500.0, 210.0, 1109.0]
    assert "R$ 2.129,00" in billing.text and "53,1 %" in billing.text
    bad = client.get("/console/reports/billing?start=2020-01&end=2026-03")
    assert bad.status_code == 422 and "Fim:" in bad.text


def test_excel_csv_for_people(client: TestClient) -> None:
    as_role(client, "billing")
    response = client.get("/console/reports/billing.csv?start=2026-01&end=2026-03")
    assert response.status_code == 200
    lines = response.content.decode("utf-8").splitlines()
    assert lines[0] == "\ufeffMês;Títulos emitidos;Faturado (R$);Títulos pagos;Recebido (R$)"
    assert lines[1] == "2026-01;2;500;0;0"
    plain = client.get("/console/reports/billing.csv?start=2026-01&end=2026-03&formato=dados")
    assert plain.text.splitlines()[1] == "2026-01,2,500.00,0,0.00"


def test_roles_see_their_reports_only(client: TestClient) -> None:
    as_role(client, "marketing")
    hub = client.get("/console/reports")
    assert "Novos clientes" in hub.text and "Inadimplência" not in hub.text
    assert client.get("/console/reports/defaulters").status_code == 403
    assert client.get("/console/reports/billing.csv").status_code == 403
    campaigns = client.get("/console/reports/campaigns")
    assert campaigns.status_code == 200  # messaging not installed yet: a message says so
    assert "ainda não está instalado" in campaigns.text or "campaigns-table" in campaigns.text


def test_schedules_form(client: TestClient) -> None:
    as_role(client, "billing")
    page = client.get("/console/reports/schedules")
    token = csrf_of(page.text)
    form = {"csrf": token, "report": "billing", "recipients": "a@exemplo.com.br\nb@exemplo.com.br",
            "cadence": "monthly", "hour": "7", "day_of_month": "2", "months": "6"}  # fmt: skip
    created = client.post("/console/reports/schedules", data=form, follow_redirects=False)
    assert created.status_code == 303
    listing = client.get("/console/reports/schedules")
    assert "mensal (dia 2) às 07h" in listing.text
    bad = client.post("/console/reports/schedules", data={**form, "recipients": "ninguém"})
    assert bad.status_code == 422 and "Destinatários: valor inválido." in bad.text
    refused = client.post("/console/reports/schedules", data={**form, "report": "campaigns"})
    assert refused.status_code == 400


def test_campaign_results_come_from_messaging_when_installed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[dt.date, dt.date]] = []

    def campaign_results(session: object, *, start: dt.date, end: dt.date) -> list[dict]:
        asked.append((start, end))
        return [
            {"campaign_id": 1, "name": "Black Friday", "sent": 9800, "failed": 12,
             "bounced": 150, "unsubscribed": 38},
        ]  # fmt: skip

    fake = types.ModuleType("sincro.messaging.service")
    fake.campaign_results = campaign_results  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sincro.messaging.service", fake)
    as_role(client, "marketing")
    page = client.get("/console/reports/campaigns?start=2026-11-01&end=2026-11-30")
    assert page.status_code == 200
    assert asked == [(dt.date(2026, 11, 1), dt.date(2026, 11, 30))]
    assert "Black Friday" in page.text and "9.800" in page.text
    spec = charts(page.text)["campaigns-chart"]
    assert spec["series"][0] == {"label": "Enviados", "data": [9800]}


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
