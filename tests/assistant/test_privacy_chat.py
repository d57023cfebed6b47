"""LGPD self-service in the chat, through the conversation seam on SQLite and PostgreSQL: a copy
of the customer's data only after the identity check, by e-mail to the address on file (the
export attached, audited, once per conversation, never in the chat); an erasure explained,
confirmed with "confirmo" and filed through the audited erasure path."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from sincro import audit
from sincro.assistant import conversations
from sincro.assistant.conversations import Reply
from sincro.assistant.models import Conversation
from sincro.assistant.retention import REDACTED
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.models import Customer
from sincro.db import Database
from sincro.messaging.models import LedgerEntry
from tests.assistant import world
from tests.assistant.people import open_hours
from tests.messaging.support import (
    Dispatched,
    dispatched,
    drain,
    global_var_dir,
    messaging_settings,
    sender_for,
)
from tests.smtp_sink import SmtpSink, running_sink

__all__ = ["dispatched", "global_var_dir"]  # fixtures
pytestmark = pytest.mark.usefixtures("global_var_dir")
BRUNO_CPF, BRUNO_BIRTH = "390.533.447-05", "01/01/1990"


@pytest.fixture
def ids(db: Database) -> dict[str, int | str]:
    found = world.seed(db)
    with db.write() as s:
        customers.record_consent(
            s, int(found["customer"]), channel="email", purpose="service",
            granted=True, source="test", evidence="fixture",
        )  # fmt: skip
    return found


class Chat:
    def __init__(self, db: Database, settings: Settings, customer_id: int | None = None) -> None:
        self.db, self.settings = db, settings
        with db.write() as s:
            self.id = conversations.start(s, channel="api", customer_id=customer_id)[0].id

    def say(self, text: str) -> Reply:
        with self.db.write() as s:
            return conversations.post_customer(s, self.settings, self.id, text)


def _types(reply: Reply) -> list[str]:
    return [a.type for a in reply.actions]


def _audit(db: Database, action: str) -> list[audit.AuditEntry]:
    with db.read() as s:
        return list(s.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == action)))


def test_a_copy_of_the_data_goes_by_e_mail_after_identification_only(
    db: Database, settings: Settings, ids: dict[str, int | str], dispatched: Dispatched
) -> None:
    settings = open_hours(settings)
    chat = Chat(db, settings)
    asked = chat.say("quero uma cópia dos meus dados")
    assert _types(asked) == ["ask_identity"] and "CPF" in asked.reply
    assert asked.actions[0].data["reason"] == "privacidade"
    chat.say(world.CPF)
    assert _audit(db, "customer.exported") == []  # nothing before the second factor
    sent = chat.say("12/03/1985")
    assert _types(sent) == ["privacy_export"] and sent.actions[0].data["status"] == "queued"
    assert "e-mail do seu cadastro" in sent.reply and "ana@" not in sent.reply
    [entry] = _audit(db, "customer.exported")
    assert entry.entity_id == str(ids["customer"])
    assert entry.actor_label == f"assistente virtual (conversa {chat.id})"
    again = chat.say("me manda meus dados de novo")
    assert again.actions[0].data["status"] == "already_sent"
    with db.read() as s:
        ledger = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "assistant_lgpd_export"))
        assert [(e.status, e.email) for e in ledger] == [("pending", "ana@example.com")]
        shown = " ".join(m.text for m in conversations.transcript(s, chat.id))
    assert "52998224725" not in shown and "ana@example.com" not in shown  # never in the chat

    with running_sink() as sink, sender_for(db, messaging_settings(settings, sink.port)) as sender:
        drain(sender, dispatched)
        mails: list[SmtpSink] = sink.messages  # type: ignore[assignment]
    [mail] = mails
    assert "ana@example.com" in mail["To"] and mail["Subject"] == "Cópia dos seus dados (LGPD)"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert "Olá, Ana!" in text and f"Atendimento nº {chat.id}" in text
    [attached] = list(mail.iter_attachments())  # type: ignore[attr-defined]
    assert attached.get_content_type() == "application/json"
    exported = json.loads(attached.get_content())
    assert exported["customer_id"] == ids["customer"]
    assert exported["sections"]["customers"]["customer"]["document"] == "52998224725"
    assert "assistant" in exported["sections"] and "billing" not in exported["sections"]

    # a customer who may not be mailed (no consent for service e-mail) goes to a person
    bruno = Chat(db, settings)
    bruno.say("quero exportar meus dados")
    bruno.say(BRUNO_CPF)
    refused = bruno.say(BRUNO_BIRTH)
    assert "não está autorizado" in refused.reply and refused.state == "waiting_agent"
    assert _types(refused) == ["privacy_export", "handoff"]


def test_an_erasure_is_explained_confirmed_and_filed(
    db: Database, settings: Settings, ids: dict[str, int | str]
) -> None:
    settings = open_hours(settings)
    customer_id = int(ids["customer"])
    before = Chat(db, settings)  # an earlier identified conversation: erased with the rest
    before.say(f"minhas faturas, cpf {world.CPF}")
    before.say("12/03/1985")
    # a customer the starting channel vouched for still passes the check here first
    vouched = Chat(db, settings, customer_id=customer_id)
    assert _types(vouched.say("quero excluir meus dados")) == ["ask_identity"]
    chat = Chat(db, settings)
    assert _types(chat.say("quero excluir meus dados")) == ["ask_identity"]
    chat.say(world.CPF)
    terms = chat.say("12/03/1985")
    assert _types(terms) == ["confirm_erasure"] and "confirmo" in terms.reply
    assert "faturas" in terms.reply and "Não dá para desfazer" in terms.reply
    kept = chat.say("sim")  # only the word asked for confirms
    assert kept.actions[0].data["status"] == "cancelled"
    assert _audit(db, "customer.erased") == []
    chat.say("apaguem meu cadastro")  # verified already: straight to the terms
    done = chat.say("Confirmo.")
    assert done.actions[0].data == {"status": "erased", "protocol": chat.id}
    [entry] = _audit(db, "customer.erased")
    assert entry.entity_id == str(customer_id)
    assert entry.actor_label == f"assistente virtual (conversa {chat.id})"
    assert str(chat.id) in entry.after["reason"]
    with db.read() as s:
        person = s.get(Customer, customer_id)
        assert person is not None and person.erased_at is not None
        assert person.document is None and person.email is None
        assert customers.customer_receivables(s, customer_id)  # billing keeps the invoices
        assert s.get(Conversation, before.id) is None
        conversation = s.get(Conversation, chat.id)
        assert conversation is not None and conversation.customer_id is None
        messages = conversations.transcript(s, chat.id)
    # what was typed before the request (CPF, birth date) is gone; the turn's own message is
    # stored with its reply after the erasure, and says nothing personal
    assert {m.text for m in messages[:-2]} == {REDACTED}
    assert messages[-2].text == "Confirmo."
    assert "foram excluídos" in messages[-1].text
    # nothing personal is answered any more, and the old CPF identifies nobody
    debt = chat.say("quanto eu devo?")
    assert _types(debt) == ["ask_identity"]
    chat.say(world.CPF)
    assert "Não consegui confirmar" in chat.say("12/03/1985").reply
