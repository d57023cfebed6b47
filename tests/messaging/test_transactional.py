"""send_transactional: one ledger row per dedupe key, consent per purpose, suppression, system
templates other domains register, attachments; sent by the same workers to a real SMTP sink."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.messaging import service
from sincro.messaging.models import LedgerEntry
from sincro.messaging.schemas import Attachment
from tests.messaging.support import Dispatched, add_customers, drain, messaging_settings, sender_for
from tests.smtp_sink import SmtpSink

INVOICE = {
    "key": "fatura.emitida",
    "name": "Fatura emitida",
    "purpose": "billing",
    "subject": "Sua fatura {{ invoice.number }} vence em {{ invoice.due | date }}",
    "html": "<p>{{ customer.first_name }}, valor {{ invoice.amount | money }}</p>",
    "text": "{{ customer.first_name }}, valor {{ invoice.amount | money }}, "
    "vencimento {{ invoice.due | date }}.",
    "variables": ["invoice"],
}


def _ensure(db: Database) -> None:
    with db.write() as session:
        service.ensure_template(session, **INVOICE)


def _send(db: Database, customer_id: int, key: str, **extra: object) -> bool:
    with db.write() as session:
        return service.send_transactional(
            session,
            customer_id=customer_id,
            purpose="billing",
            kind="invoice",
            dedupe_key=key,
            template_key="fatura.emitida",
            context={
                "invoice": {
                    "number": "000123",
                    "amount": Decimal("1234.5"),
                    "due": dt.date(2026, 12, 20),
                }
            },
            **extra,  # type: ignore[arg-type]
        )


def test_one_message_per_dedupe_key_sent_once_rendered_in_pt_br(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    (customer,) = add_customers(db, 1, purposes=("billing",))
    _ensure(db)
    _ensure(db)  # a second registration keeps the first
    pdf = Attachment("fatura-000123.pdf", "application/pdf", b"%PDF-1.4 fake")
    assert _send(db, customer, "R1", attachments=(pdf,)) is True
    assert _send(db, customer, "R1") is False  # same step again: nothing
    assert len(dispatched.batches) == 1
    config = messaging_settings(settings, sink.port)
    with sender_for(db, config) as sender:
        drain(sender, dispatched)
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert message["Subject"] == "Sua fatura 000123 vence em 20/12/2026"
    assert "R$ 1.234,50" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert message["List-Unsubscribe"] is None  # billing: no marketing unsubscribe
    names = [p.get_filename() for p in message.iter_attachments()]
    assert names == ["fatura-000123.pdf"]
    with db.read() as session:
        row = session.scalars(select(LedgerEntry)).one()
    assert row.status == "sent" and row.message_id == message["Message-ID"]
    assert row.attempts == 1


def test_consent_per_purpose_and_suppression_are_honoured(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    marketing_only, billing, bounced = (
        add_customers(db, 1, purposes=("marketing",), prefix="m")[0],
        add_customers(db, 1, purposes=("billing",), prefix="b")[0],
        add_customers(db, 1, purposes=("billing",), prefix="x")[0],
    )
    _ensure(db)
    with db.write() as session:
        customers.suppress(session, "x1@exemplo.com.br", reason="hard_bounce")
    assert _send(db, marketing_only, "K1") is True  # handled, but withheld: no billing consent
    assert _send(db, bounced, "K2") is True
    assert _send(db, billing, "K3") is True
    config = messaging_settings(settings, sink.port)
    with sender_for(db, config) as sender:
        drain(sender, dispatched)
    assert [m["To"] for m in sink.messages] == ["b1@exemplo.com.br"]
    with db.read() as session:
        statuses = {
            k: s for k, s in session.execute(select(LedgerEntry.dedupe_key, LedgerEntry.status))
        }
    assert statuses == {
        "invoice:K1": "suppressed",
        "invoice:K2": "suppressed",
        "invoice:K3": "sent",
    }


def test_withdrawn_consent_after_queueing_is_honoured_at_send_time(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    (customer,) = add_customers(db, 1, purposes=("billing",))
    _ensure(db)
    assert _send(db, customer, "Q1")
    with db.write() as session:
        customers.record_consent(
            session,
            customer,
            channel="email",
            purpose="billing",
            granted=False,
            source="test",
            evidence="call center",
        )
    with sender_for(db, messaging_settings(settings, sink.port)) as sender:
        drain(sender, dispatched)
    assert sink.messages == []
    with db.read() as session:
        row = session.scalars(select(LedgerEntry)).one()
    assert row.status == "suppressed" and "withdrawn" in (row.last_error or "")


def test_privacy_export_and_erase_keep_the_counts(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    from sincro import audit, privacy

    (customer,) = add_customers(db, 1, purposes=("billing",))
    _ensure(db)
    assert _send(db, customer, "P1")
    with sender_for(db, messaging_settings(settings, sink.port)) as sender:
        drain(sender, dispatched)
    actor = audit.Actor.cli("dpo")
    with db.write() as session:
        exported = privacy.export_customer(session, customer, actor)
    (message,) = exported["messaging"]["messages"]
    assert message["email"] == "cli1@exemplo.com.br" and message["status"] == "sent"
    with db.write() as session:
        counts = privacy.erase_customer(session, customer, actor, "pedido do titular")
    assert counts["messaging"] == {"send_ledger": 1}
    with db.read() as session:
        row = session.scalars(select(LedgerEntry)).one()
        assert (row.email, row.name, row.context) == ("", "", None)
        assert service.counts(session, row.campaign_id).sent == 1
