"""LGPD for customers: export of everything kept (merged records, consents with evidence,
receivables, suppressions), erasure that anonymizes what billing keeps, audited and
idempotent, through the kernel's privacy hook, the API and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sincro import audit, privacy
from sincro.audit import Actor
from sincro.cli import app
from sincro.config import Settings, reset_settings
from sincro.customers import service
from sincro.customers.models import Customer, Receivable, Suppression
from sincro.customers.privacy import ERASED_NAME
from sincro.customers.schemas import CustomerRegistration
from sincro.db import Database, reset_databases
from sincro.events import Event
from tests.customers.support import add_receivable, admin_key, api_client, cpf

DOC = cpf(7)


def seed(db: Database) -> tuple[int, int]:
    """A person known to the ERP and to the API (merged), with consent, a receivable and a
    suppression; returns (primary id, merged id)."""
    with db.write() as session:
        service.upsert_customers(
            session,
            "erp",
            [
                (
                    "C7",
                    {
                        "code": "C7",
                        "name": "Ana Souza",
                        "document": DOC,
                        "document_kind": "cpf",
                        "email": "ana@x.com.br",
                        "state": "SP",
                        "city": "Campinas",
                    },
                )
            ],
        )
        service.upsert_customers(
            session,
            "erp2",
            [
                (
                    "Z7",
                    {
                        "code": "Z7",
                        "name": "Ana S.",
                        "document": DOC,
                        "document_kind": "cpf",
                        "email": "ana.souza@y.com.br",
                        "phone": "11 91234-5678",
                    },
                )
            ],
        )
        ids = dict(session.execute(select(Customer.source, Customer.id)).all())
        service.record_consent(
            session,
            ids["erp"],
            channel="email",
            purpose="marketing",
            granted=True,
            source="signup-mail",
            evidence="<msg-1@x>",
        )
        service.suppress(session, "ana.souza@y.com.br", reason="unsubscribed", purpose="marketing")
    add_receivable(db, "T7", "C7", dt.date(2026, 1, 10), "120.00")
    return ids["erp"], ids["erp2"]


def test_export_has_everything_and_is_audited(db: Database) -> None:
    primary, merged = seed(db)
    with db.write() as session:
        data = privacy.export_customer(session, merged, Actor.cli("tester"))["customers"]
    assert data["customer"]["id"] == primary and data["customer"]["document"] == DOC
    assert [m["id"] for m in data["merged_records"]] == [merged]
    assert data["merged_records"][0]["phone"] == "11 91234-5678"
    assert data["consent_history"][0]["evidence"] == "<msg-1@x>"
    assert (
        data["receivables"][0]["external_code"] == "T7"
        and data["receivables"][0]["amount"] == "99.90"
    )
    assert data["suppressions"] == [
        {
            "email": "ana.souza@y.com.br",
            "purpose": "marketing",
            "reason": "unsubscribed",
            "created_at": data["suppressions"][0]["created_at"],
        }
    ]
    with db.read() as session:
        entries, _ = audit.read(session)
    assert [(e.action, e.entity_id, e.actor_label) for e in entries] == [
        ("customer.exported", str(merged), "tester")
    ]


def test_erase_anonymizes_keeps_receivables_hashes_suppressions_and_is_idempotent(
    db: Database,
) -> None:
    primary, merged = seed(db)
    with db.write() as session:
        counts = privacy.erase_customer(session, primary, Actor.cli("dpo"), "pedido 2026-1")
    assert counts["customers"] == {
        "customers_anonymized": 2,
        "consents_deleted": 1,
        "consent_events_deleted": 1,
        "suppressions_hashed": 1,
        "receivables_kept": 1,
    }
    with db.read() as session:
        people = session.scalars(select(Customer).order_by(Customer.id)).all()
        for c in people:
            assert (c.name, c.document, c.email, c.phone, c.birth_date) == (
                ERASED_NAME,
                None,
                None,
                None,
                None,
            )
            assert c.erased_at is not None
        assert people[0].city == "Campinas"  # regional reports still count the record
        receivable = session.scalars(select(Receivable)).one()
        assert receivable.customer_id == primary and receivable.amount > 0
        hashed = session.scalars(select(Suppression.email)).one()
        assert hashed == service.hashed_address("ana.souza@y.com.br") and "@" not in hashed
        erased = session.scalars(select(Event).where(Event.topic == "customer.erased")).one()
        assert erased.payload == {"customer_id": primary, "merged_ids": [merged]}
        assert service.consent_history(session, primary) == []
    with db.write() as session:
        again = privacy.erase_customer(session, merged, Actor.cli("dpo"), "pedido 2026-1")
    assert again["customers"]["customers_anonymized"] == 0
    with db.read() as session:
        assert (
            len(session.scalars(select(Event).where(Event.topic == "customer.erased")).all()) == 1
        )
        actions = [e.action for e in audit.read(session)[0]]
    assert actions == ["customer.erased", "customer.erased"]


def test_erased_people_stay_erased_and_their_address_stays_suppressed(db: Database) -> None:
    primary, _ = seed(db)
    with db.write() as session:
        privacy.erase_customer(session, primary, Actor.cli(), "pedido")
    # the ERP sends the person again: the erased records are not filled back in
    with db.write() as session:
        service.upsert_customers(
            session,
            "erp",
            [
                (
                    "C7",
                    {
                        "code": "C7",
                        "name": "Ana Souza",
                        "document": DOC,
                        "document_kind": "cpf",
                        "email": "ana@x.com.br",
                    },
                )
            ],
        )
    with db.read() as session:
        assert session.get(Customer, primary).name == ERASED_NAME  # type: ignore[union-attr]
    # the address comes back with a new registration: its suppression applies again, in clear
    with db.write() as session:
        new = service.register_customer(
            session,
            CustomerRegistration(name="Outra Pessoa", document=cpf(8), email="ana.souza@y.com.br"),
            source="api",
        )
        assert new.created
    with db.read() as session:
        assert service.suppressed(session, ["ana.souza@y.com.br"], purpose="marketing") == {
            "ana.souza@y.com.br"
        }
        # and the same document registers as a new customer, not the erased one
    with db.write() as session:
        back = service.register_customer(
            session, CustomerRegistration(name="Ana Souza", document=DOC), source="api"
        )
    assert back.created and back.customer_id != primary


def test_api_export_and_erase(db: Database, settings: Settings) -> None:
    primary, _ = seed(db)
    headers = admin_key(db)
    with api_client(settings) as client:
        exported = client.get(f"/v1/customers/{primary}/export", headers=headers)
        assert exported.status_code == 200
        assert exported.json()["sections"]["customers"]["customer"]["document"] == DOC
        missing_reason = client.post(f"/v1/customers/{primary}/erase", json={}, headers=headers)
        assert (
            missing_reason.status_code == 422
            and missing_reason.json()["error"]["field"] == "reason"
        )
        first = client.post(
            f"/v1/customers/{primary}/erase", json={"reason": "pedido 9"}, headers=headers
        )
        assert first.status_code == 200 and first.json()["already_erased"] is False
        second = client.post(
            f"/v1/customers/{primary}/erase", json={"reason": "pedido 9"}, headers=headers
        )
        assert second.json()["already_erased"] is True
        assert second.json()["erased_at"] == first.json()["erased_at"]
        detail = client.get(f"/v1/customers/{primary}", headers=headers).json()
        assert (
            detail["name"] == ERASED_NAME and detail["erased"] and len(detail["receivables"]) == 1
        )
        assert (
            client.get("/v1/customers", params={"q": "Ana"}, headers=headers).json()["total"] == 0
        )
    with db.read() as session:
        entries = [e for e in audit.read(session)[0] if e.action.startswith("customer.")]
    assert [e.action for e in entries] == [
        "customer.erased",
        "customer.erased",
        "customer.exported",
    ]
    assert entries[0].actor_kind == "key" and entries[0].after["reason"] == "pedido 9"


@pytest.fixture
def cli_env(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    reset_databases()
    yield db
    reset_settings()
    reset_databases()


def test_cli_export_and_erase(cli_env: Database, tmp_path: Path) -> None:
    primary, _ = seed(cli_env)
    runner = CliRunner()
    out = tmp_path / "ana.json"
    assert (
        runner.invoke(app, ["customers", "export", str(primary), "--output", str(out)]).exit_code
        == 0
    )
    assert DOC in out.read_text(encoding="utf-8")
    refused = runner.invoke(app, ["customers", "erase", str(primary), "--reason", "x"])
    assert refused.exit_code == 1
    done = runner.invoke(app, ["customers", "erase", str(primary), "--reason", "pedido 5", "--yes"])
    assert done.exit_code == 0, done.output
    with cli_env.read() as session:
        assert session.get(Customer, primary).erased_at is not None  # type: ignore[union-attr]
    assert runner.invoke(app, ["customers", "export", "999"]).exit_code == 1
