"""Out of hours, an agent's answer goes out by e-mail through messaging's transactional
sender, to the real SMTP sink: to the known customer of the address written in the chat (with
consent), never to an address nobody registered, and not without consent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sincro.assistant import agents, conversations
from sincro.config import Settings, reset_settings
from sincro.customers import service as customers
from sincro.customers.lookup import find_customer
from sincro.db import Database
from sincro.messaging.models import LedgerEntry
from tests.assistant.people import closed_hours, make_agent, queued
from tests.messaging.support import Dispatched, dispatched, drain, messaging_settings, sender_for
from tests.smtp_sink import SmtpSink, running_sink

__all__ = ["dispatched"]  # the fixture, imported for this module's tests


@pytest.fixture(autouse=True)
def _global_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """messaging reads a few settings globally: keep that var/ inside the test's directory."""
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path / "var"))
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as running:
        yield running


def add_customer(db: Database, code: str, *, consent: bool) -> int:
    with db.write() as session:
        customers.upsert_customers(
            session,
            "erp",
            [(code, {"code": code, "name": f"Joana {code}", "email": f"{code}@exemplo.com.br",
                     "state": "SP", "city": "Campinas"})],
        )  # fmt: skip
    with db.read() as session:
        found = find_customer(session, email=f"{code}@exemplo.com.br")
        assert found is not None
    if consent:
        with db.write() as session:
            customers.record_consent(
                session, found.customer_id, channel="email", purpose="service",
                granted=True, source="test", evidence="fixture",
            )  # fmt: skip
    return found.customer_id


def test_an_out_of_hours_answer_reaches_the_customer_by_e_mail(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    settings = closed_hours(settings)
    night = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    add_customer(db, "joana", consent=True)
    add_customer(db, "semconsentimento", consent=False)
    agent = make_agent(db, "Ana Lima")
    wrote = {
        "known": "minha internet caiu. meu email: JOANA@exemplo.com.br",
        "stranger": "me responde em alguem@desconhecido.com.br",
        "no_consent": "pode responder em semconsentimento@exemplo.com.br",
    }
    ids = {key: queued(db, settings, text, at=night) for key, text in wrote.items()}
    statuses = {}
    for key, conversation_id in ids.items():
        with db.write() as session:
            agents.take(session, settings, conversation_id, agent)
            message = agents.answer(
                session, settings, conversation_id, agent, "Reinicie o modem, por favor."
            )
            statuses[key] = message.payload["email"]
    assert statuses == {"known": "queued", "stranger": "no_address", "no_consent": "suppressed"}

    with sender_for(db, messaging_settings(settings, sink.port)) as sender:
        drain(sender, dispatched)
    [mail] = sink.messages
    assert "joana@exemplo.com.br" in mail["To"]
    assert mail["Subject"] == f"Resposta ao seu atendimento nº {ids['known']}"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Olá, Joana!" in text and "Ana, da nossa equipe, respondeu" in text
    assert "Reinicie o modem, por favor." in text and "04/12/2026" in text
    with db.read() as session:
        ledger = session.scalars(select(LedgerEntry.status).order_by(LedgerEntry.id)).all()
        transcript = conversations.transcript(session, ids["known"])
    assert sorted(ledger) == ["sent", "suppressed"]
    assert transcript[-1].sender == "agent"  # the answer is in the chat too
