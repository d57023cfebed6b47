"""The "Clientes" console pages over HTTP, on SQLite and PostgreSQL: what each role sees
(masked CPF, e-mail, receivables), search filters and CSV export, the customer page with
consent evidence and receivables, LGPD export and erasure, and the CSV import."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sincro import audit
from sincro.access.service import create_user
from sincro.config import Settings
from sincro.console.customers import routes
from sincro.customers import jobs, repository as repo, service
from sincro.customers.importer import Importer
from sincro.customers.models import Customer, CustomerImport
from sincro.customers.schemas import CustomerRegistration
from sincro.db import Database, utcnow
from sincro.text_pt import format_cpf
from tests.console.support import csrf_of
from tests.customers.support import (
    PASSWORD,
    add_receivable,
    api_client,
    cpf,
    make_user,
    sign_in_as,
    upload,
)

ANA = cpf(123456)


@pytest.fixture
def world(db: Database) -> dict[str, int]:
    with db.write() as session:
        ids = {}
        for n, (name, doc, uf, city) in enumerate(
            [
                ("Ana Souza", ANA, "AM", "Manaus"),
                ("Bruno Lima", cpf(2), "SP", "Campinas"),
                ("Carla Dias", cpf(3), "RJ", "Niterói"),
            ]
        ):
            reg = CustomerRegistration(
                name=name,
                document=doc,
                email=f"{name.split()[0].lower()}@exemplo.com.br",
                phone="11 91234-5678",
                state=uf,
                city=city,
                birth_date=dt.date(1990, 1, n + 1),
            )
            ids[name] = service.register_customer(session, reg, source="api").customer_id
        service.record_consent(
            session,
            ids["Ana Souza"],
            channel="email",
            purpose="marketing",
            granted=True,
            source="signup-mail",
            evidence="<convite-77@sincro>",
        )
        service.record_consent(
            session,
            ids["Ana Souza"],
            channel="sms",
            purpose="billing",
            granted=False,
            source="console",
            evidence="ligação 0800",
        )
    add_receivable(
        db,
        "NF-900",
        ANA,
        service.local_today("America/Manaus") - dt.timedelta(days=20),
        "150.00",
        source="api",
    )
    return ids


@pytest.fixture
def client(world: dict[str, int], settings: Settings) -> Iterator[TestClient]:
    with api_client(settings) as client:
        yield client


@pytest.fixture
def as_role(client: TestClient, db: Database) -> Callable[[str], TestClient]:
    """Sign in as a new user of ``role`` (users are made on demand: scrypt is slow)."""

    def sign_in(role: str) -> TestClient:
        if role == "admin":
            with db.write() as session:
                create_user(session, "admin@sincro.example", "Admin", PASSWORD)
        else:
            make_user(db, role)
        sign_in_as(client, f"{role}@sincro.example")
        return client

    return sign_in


def test_admin_sees_everything_and_filters(
    client: TestClient, as_role: Callable[[str], TestClient], world: dict[str, int]
) -> None:
    as_role("admin")
    page = client.get("/console/customers")
    assert page.status_code == 200 and "Ana Souza" in page.text and format_cpf(ANA) in page.text
    assert "ana@exemplo.com.br" in page.text and "Importar CSV" in page.text
    assert "Bruno Lima" not in client.get("/console/customers", params={"inadimplente": "sim"}).text
    only_rj = client.get("/console/customers", params={"uf": "RJ"}).text
    assert "Carla Dias" in only_rj and "Ana Souza" not in only_rj
    assert "Carla Dias" in client.get("/console/customers", params={"q": cpf(3)}).text
    bad = client.get("/console/customers", params={"uf": "ZZ"})
    assert bad.status_code == 200 and "UF: escolha" in bad.text
    detail = client.get(f"/console/customers/{world['Ana Souza']}").text
    assert format_cpf(ANA) in detail and "11 91234-5678" in detail and "Nascimento" in detail
    assert "&lt;convite-77@sincro&gt;" in detail and "ligação 0800" in detail
    assert "NF-900" in detail and "R$ 150,00" in detail and "Vencido" in detail
    assert ">20<" in detail  # days overdue in Manaus time
    assert "Mensagens enviadas" not in detail  # messaging is not installed here
    assert "Remover dados pessoais" in detail
    assert client.get("/console/customers/999").status_code == 404


@pytest.mark.parametrize(
    ("role", "document", "email", "receivables"),
    [
        ("billing", "***.123.456-**", "ana@exemplo.com.br", True),
        ("marketing", "***.123.456-**", "ana@exemplo.com.br", False),
        ("agent", "***.123.456-**", "an***@exemplo.com.br", True),
    ],
)
def test_what_each_role_sees(
    client: TestClient,
    as_role: Callable[[str], TestClient],
    world: dict[str, int],
    role: str,
    document: str,
    email: str,
    receivables: bool,
) -> None:
    as_role(role)
    page = client.get("/console/customers", params={"q": "ana"}).text
    assert document in page and format_cpf(ANA) not in page and email in page
    assert "Importar CSV" not in page
    detail = client.get(f"/console/customers/{world['Ana Souza']}").text
    assert document in detail and ANA not in detail and email in detail
    assert "Nascimento" not in detail and ("NF-900" in detail) is receivables
    assert "91234-5678" not in detail or role == "billing"
    assert "Remover dados pessoais" not in detail
    by_document = client.get("/console/customers", params={"q": ANA[:5]})
    assert "Seu perfil não pode buscar por CPF/CNPJ" in by_document.text
    export = client.get("/console/customers.csv", params={"q": "ana"})
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][2] == document and rows[1][3] == email
    for forbidden in (
        f"/console/customers/{world['Ana Souza']}/export.json",
        "/console/customers/import",
        "/console/customers/imports/1",
    ):
        assert client.get(forbidden).status_code == 403
    erase = client.post(
        f"/console/customers/{world['Ana Souza']}/erase",
        data={"csrf": "x", "reason": "pedido", "confirm": "sim"},
    )
    assert erase.status_code == 403


def test_roles_without_customers_get_403(
    client: TestClient, as_role: Callable[[str], TestClient]
) -> None:
    as_role("store")
    assert client.get("/console/customers").status_code == 403
    assert "Clientes" not in client.get("/console/skus").text.split("<main")[0]


def test_messages_section_shows_when_messaging_exposes_them(
    client: TestClient,
    as_role: Callable[[str], TestClient],
    world: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    fake = SimpleNamespace(
        messages_for_customer=lambda session, cid: [
            {
                "sent_at": sent,
                "subject": f"Fatura de {cid}",
                "campaign": "Cobrança dez",
                "status": "sent",
            }
        ]
    )
    monkeypatch.setattr(routes, "messaging", fake)
    as_role("admin")
    detail = client.get(f"/console/customers/{world['Ana Souza']}").text
    assert "Mensagens enviadas" in detail and f"Fatura de {world['Ana Souza']}" in detail
    assert "01/12/2026 11:00" in detail  # Manaus time


def test_lgpd_export_and_erase_from_the_console(
    client: TestClient, as_role: Callable[[str], TestClient], world: dict[str, int], db: Database
) -> None:
    as_role("admin")
    ana = world["Ana Souza"]
    page = client.get(f"/console/customers/{ana}")
    exported = client.get(f"/console/customers/{ana}/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert exported.json()["sections"]["customers"]["customer"]["document"] == ANA
    token = csrf_of(page.text)
    no_confirm = client.post(
        f"/console/customers/{ana}/erase", data={"csrf": token, "reason": "pedido 42"}
    )
    assert no_confirm.status_code == 400 and "Marque a confirmação" in no_confirm.text
    no_reason = client.post(
        f"/console/customers/{ana}/erase", data={"csrf": token, "confirm": "sim"}
    )
    assert no_reason.status_code == 400 and "Informe o motivo" in no_reason.text
    stale = client.post(
        f"/console/customers/{ana}/erase",
        data={"csrf": "velho", "reason": "pedido 42", "confirm": "sim"},
    )
    assert stale.status_code == 400
    done = client.post(
        f"/console/customers/{ana}/erase",
        data={"csrf": token, "reason": "pedido 42", "confirm": "sim"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert "Titular removido" in after and "Dados pessoais removidos" in after and "NF-900" in after
    with db.read() as session:
        assert session.get(Customer, ana).document is None  # type: ignore[union-attr]
        entries = audit.read(session)[0]
    erased = [e for e in entries if e.action == "customer.erased"]
    assert erased[0].actor_kind == "user" and erased[0].after["reason"] == "pedido 42"
    assert any(e.action == "customer.exported" for e in entries)


def test_import_from_the_console(
    client: TestClient,
    as_role: Callable[[str], TestClient],
    db: Database,
    settings: Settings,
) -> None:
    as_role("admin")
    form = client.get("/console/customers/import")
    assert form.status_code == 200
    raw = ("\ufeffnome;cpf;uf\r\nDiego Alves;" + cpf(77) + ";SP\r\nRuim;123;SP\r\n").encode()
    started = upload(client, "novos.csv", raw)
    assert started.status_code == 303, started.text
    status_url = started.headers["location"]
    queued = client.get(status_url).text
    assert "Na fila" in queued and 'http-equiv="refresh"' in queued
    import_id = int(status_url.rsplit("/", 1)[1])
    assert jobs.run_import(db, settings, import_id).state == "done"  # what a worker does
    page = client.get(status_url).text
    assert "Concluída" in page and "UTF-8" in page and "CPF/CNPJ inválido" in page
    assert 'http-equiv="refresh"' not in page
    report = client.get(status_url + "/rejeitados.csv")
    assert report.status_code == 200 and report.content.decode("utf-8-sig").splitlines()[
        1
    ].startswith("3;cpf;")
    with db.read() as session:
        assert (
            session.scalar(select(Customer.name).where(Customer.document == cpf(77)))
            == "Diego Alves"
        )
    assert upload(client, "x.csv", b"").status_code == 400
    no_cpf = upload(client, "x.csv", b"nome;email\nAna;a@b.co\n")
    assert no_cpf.status_code == 400 and "Faltam colunas obrigatórias" in no_cpf.text
    assert client.get("/console/customers/imports/999").status_code == 404


def test_the_import_page_says_running_interrupted_and_failed_in_portuguese(
    client: TestClient, as_role: Callable[[str], TestClient], db: Database, settings: Settings
) -> None:
    as_role("admin")
    raw = f"nome;cpf\nAna;{cpf(5)}\n".encode()
    import_id = jobs.submit(
        db, settings, "fila.csv", raw, dry_run=False, actor="t", send=lambda _id: None
    )
    with db.write() as session:
        claimed = repo.claim_import(session, import_id, "w1", dt.timedelta(minutes=2))
        assert claimed is not None
    running = client.get(f"/console/customers/imports/{import_id}").text
    assert "Em andamento" in running and 'content="1"' in running and "Interrompida" not in running
    _set(db, import_id, lease_until=utcnow() - dt.timedelta(seconds=1))
    resuming = client.get(f"/console/customers/imports/{import_id}").text
    assert "Interrompida" in resuming and "retomada automaticamente" in resuming
    assert 'http-equiv="refresh"' in resuming  # it comes back by itself: keep watching
    _set(db, import_id, status="failed", error="interrupted 5 times (the worker stopped)")
    failed = client.get(f"/console/customers/imports/{import_id}").text
    assert "Falhou" in failed and "o worker parou em todas as tentativas" in failed
    assert 'http-equiv="refresh"' not in failed
    listing = client.get("/console/customers/import").text
    assert "Falhou" in listing


def test_a_cli_import_whose_process_stopped_is_shown_as_interrupted(
    client: TestClient, as_role: Callable[[str], TestClient], db: Database
) -> None:
    importer = Importer(db, batch_lines=10, max_line_chars=4000)
    import_id = importer.start("parou.csv", dry_run=False, actor="t")
    as_role("admin")
    fresh = client.get(f"/console/customers/imports/{import_id}").text
    assert 'http-equiv="refresh"' in fresh and "Interrompida" not in fresh
    _set(db, import_id, lease_until=utcnow() - dt.timedelta(seconds=1))
    stale = client.get(f"/console/customers/imports/{import_id}").text
    assert "Interrompida" in stale and "importe o arquivo de novo" in stale
    assert 'http-equiv="refresh"' not in stale  # no upload stored: nothing will resume it


def _set(db: Database, import_id: int, **values: object) -> None:
    with db.write() as session:
        session.execute(
            update(CustomerImport).where(CustomerImport.id == import_id).values(**values)
        )


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
