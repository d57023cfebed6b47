"""The dialogue on SQLite and PostgreSQL, over one seeded world per database (module scope):
answers per intent from the data, slots and context, identity before anything personal (and
the try limit), the handoff triggers, interaction events only for identified customers, and
no CPF in the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sincro.assistant import conversations
from sincro.assistant.conversations import Reply
from sincro.assistant.interactions import INTERACTION
from sincro.config import Settings
from sincro.db import Database, database_for
from sincro.events import Event
from tests.assistant import world
from tests.conftest import wipe


class Chat:
    def __init__(self, db: Database, settings: Settings, customer_id: int | None = None):
        self.db, self.settings = db, settings
        with db.write() as s:
            conversation, _ = conversations.start(s, channel="api", customer_id=customer_id)
            self.id = conversation.id

    def say(self, text: str) -> Reply:
        with self.db.write() as s:
            return conversations.post_customer(s, self.settings, self.id, text)

    def types(self, reply: Reply) -> list[str]:
        return [a.type for a in reply.actions]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Settings, dict[str, int | str]]]:
    url = request.getfixturevalue(f"{request.param}_url")
    db = Database(url)
    wipe(db)
    ids = world.seed(db)
    tmp = tmp_path_factory.mktemp("dialogue")
    settings = Settings(
        database_url=url,
        var_dir=Path(tmp),
        broker_url=f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        log_json=False,
        assistant_identity_max_tries=3,
        # people answer all week here: what the customer is told must not depend on the clock
        assistant_service_hours_weekdays="00:00-24:00",
        assistant_service_hours_saturday="00:00-24:00",
        assistant_service_hours_sunday="00:00-24:00",
    )
    yield db, settings, ids
    database_for(settings).dispose()  # the search engine's and shared state's connections
    db.dispose()  # the next test's `db` fixture wipes


@pytest.fixture
def chat(seeded: tuple[Database, Settings, dict[str, int | str]]) -> Chat:
    return Chat(seeded[0], seeded[1])


def test_stock_at_the_nearest_stores_with_slots_and_context(chat: Chat) -> None:
    asked = chat.say("vcs tem o galaxy a05?")
    assert asked.intent == "disponibilidade_produto" and "cidade" in asked.reply
    stock = chat.say("niteroi")
    [shown] = stock.actions
    assert shown.type == "show_stores" and shown.data["product"]["sku"] == world.A05
    stores = shown.data["stores"]
    assert [s["code"] for s in stores] == ["LJ-NIT-C", "LJ-NIT-I", "LJ-RIO-C"]
    assert [s["quantity"] for s in stores] == [4, 2, 6]  # one unit of Rio's 7 is reserved
    assert stores[0]["distance_km"] < stores[2]["distance_km"]
    centro = chat.say("e na loja do centro?")
    assert centro.actions[0].data["stores"] == [
        {"code": "LJ-NIT-C", "name": "Loja Centro - Niterói", "city": "Niterói",
         "state": "RJ", "pickup": True, "quantity": 4}
    ]  # fmt: skip
    assert "4 unidades" in centro.reply
    rio = chat.say("e no rio?")
    assert rio.actions[0].data["city"] == "Rio de Janeiro/RJ"
    assert rio.actions[0].data["stores"][0]["code"] == "LJ-RIO-C"
    iphone = chat.say("e o iphone 15 pro max 256?")
    assert [s["code"] for s in iphone.actions[0].data["stores"]] == ["LJ-CPS-C"]


def test_nearest_stores_datasheet_manual_and_offers(chat: Chat) -> None:
    near = chat.say("qual a loja mais perto em campinas?")
    assert near.intent == "loja_proxima"
    assert near.actions[0].data["stores"][0]["code"] == "LJ-CPS-C"
    info = chat.say("qual a capacidade da bateria do galaxy a05?")
    doc = info.actions[0]
    assert doc.type == "show_document" and "5000 mAh" in doc.data["passage"]
    assert doc.data["url"] == f"/v1/assistant/documents/{doc.data['id']}"
    manual = chat.say("como faço pra reiniciar o roteador?")
    assert "reset" in manual.actions[0].data["passage"]
    plans = chat.say("quais os planos controle?")
    data = plans.actions[0].data
    assert plans.actions[0].type == "show_offers"
    assert [p["code"] for p in data["plans"]] == ["CTRL-25GB"]
    assert "R$ 49,90" in plans.reply
    promos = chat.say("tem desconto no galaxy a05?")
    assert [p["code"] for p in promos.actions[0].data["promotions"]] == ["A05-OFF"]


def test_nothing_personal_before_verification_then_the_invoice(chat: Chat) -> None:
    asked = chat.say("quero a segunda via da minha fatura")
    assert chat.types(asked) == ["ask_identity"] and "CPF" in asked.reply
    unknown = Chat(chat.db, chat.settings)
    unknown.say("qro 2 via")
    # a known and an unknown CPF get the same answer: existence is not disclosed
    assert chat.say(world.CPF).reply == unknown.say(world.OTHER_CPF).reply
    wrong = chat.say("12/03/1986")
    assert "Não consegui confirmar" in wrong.reply and chat.types(wrong) == ["ask_identity"]
    assert unknown.say("12/03/1985").reply == wrong.reply
    copy = chat.say("12/03/1985")
    [sent] = copy.actions
    assert sent.type == "send_invoice" and sent.data["number"] == world.INVOICE
    assert sent.data["pdf_url"].endswith(f"/invoices/{sent.data['receivable_id']}.pdf")
    assert len(sent.data["digitable_line"]) > 40 and "R$ 99,90" in copy.reply
    debt = chat.say("quanto eu devo?")
    assert debt.actions[0].type == "show_debts" and debt.actions[0].data["total"] == "99.90"
    mailed = chat.say("manda por email tb")
    assert mailed.actions[0].data["emailed"] is True


def test_order_status_only_for_the_verified_customers_orders(
    chat: Chat, seeded: tuple[Database, Settings, dict[str, int | str]]
) -> None:
    chat.say("cade meu pedido?")
    chat.say("meu cpf eh 52998224725")
    status = chat.say("fatura 123")  # the invoice number as second factor
    [order] = status.actions[0].data["orders"]
    assert order["id"] == seeded[2]["order"] and order["status"] == "active"
    assert "PED-2026-000777" in status.reply
    other = Chat(chat.db, chat.settings, customer_id=int(seeded[2]["other"]))
    none = other.say("qual o status do meu pedido?")
    assert none.actions[0].data == {"orders": []}


def test_the_try_limit_per_cpf_refuses_and_hands_off(
    seeded: tuple[Database, Settings, dict[str, int | str]],
) -> None:
    db, settings, _ = seeded
    replies = []
    for _ in range(2):  # the limit (3) counts across conversations
        chat = Chat(db, settings)
        chat.say("quero ver meu debito")
        chat.say("390.533.447-05")
        replies.append(chat.say("01/01/1980"))
        replies.append(chat.say("01/01/1981"))
    assert "Não consegui confirmar" in replies[0].reply
    last = replies[-2]
    assert last.state == "waiting_agent"
    assert [a.data.get("reason") for a in last.actions if a.type == "handoff"] == ["cannot_do"]
    fresh = Chat(db, settings)
    fresh.say("2 via da fatura")
    refused = fresh.say("39053344705")  # the right CPF, but no more tries in the window
    assert refused.state == "waiting_agent" and "Por segurança" in refused.reply


@pytest.mark.parametrize(
    ("texts", "reason"),
    [
        (["quero falar com um atendente"], "asked_for_person"),
        (["quero fazer uma reclamacao, o produto veio quebrado"], "complaint"),
        (["quero cancelar meu plano"], "cancellation"),
        (["VCS SAO UNS LADROES, ISSO E UM ABSURDO!!!"], "negative_sentiment"),
        (["hmm entao ne", "sei la kkk"], "low_confidence"),
        (["como configuro a antena parabolica do satelite?"], "cannot_do"),
    ],
)
def test_handoff_triggers_and_silence_after(chat: Chat, texts: list[str], reason: str) -> None:
    for text in texts[:-1]:
        first = chat.say(text)
        assert first.state == "bot" and first.actions == ()
    handed = chat.say(texts[-1])
    assert handed.state == "waiting_agent"
    assert [a.data["reason"] for a in handed.actions if a.type == "handoff"] == [reason]
    assert "equipe" in handed.reply
    assert chat.say("oi? alguem?").reply == ""  # a person answers from now on


def test_interactions_only_for_identified_customers(
    seeded: tuple[Database, Settings, dict[str, int | str]], caplog: pytest.LogCaptureFixture
) -> None:
    db, settings, ids = seeded

    def count() -> int:
        with db.read() as s:
            return int(s.scalar(select(func.count()).where(Event.topic == INTERACTION)) or 0)

    before = count()
    anonymous = Chat(db, settings)
    anonymous.say("tem galaxy a05 em niteroi?")
    assert count() == before
    with caplog.at_level(logging.INFO, logger="sincro.assistant"):
        known = Chat(db, settings, customer_id=int(ids["customer"]))
        known.say("tem galaxy a05 em niteroi?")
        known.say("meu cpf 529.982.247-25 email ana@example.com tel (21) 99876-5432")
    with db.read() as s:
        event = s.scalars(
            select(Event).where(Event.topic == INTERACTION).order_by(Event.seq.desc()).limit(2)
        ).all()[-1]
    assert event.payload["customer_id"] == ids["customer"]
    assert event.payload["skus"] == [world.A05] and event.payload["city"] == "Niterói"
    assert event.payload["category"] == "smartphones"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "assistant turn" in logged
    for secret in ("529.982.247-25", "52998224725", "ana@example.com", "99876"):
        assert secret not in logged


def test_retention_and_the_customers_chats_in_lgpd(
    seeded: tuple[Database, Settings, dict[str, int | str]],
) -> None:
    import datetime as dt

    from sincro.assistant import retention
    from sincro.assistant.models import Conversation, Message
    from sincro.db import utcnow

    db, settings, ids = seeded
    mine = Chat(db, settings, customer_id=int(ids["customer"]))
    mine.say("oi")
    old, waiting = Chat(db, settings), Chat(db, settings)
    old.say("oi")
    waiting.say("quero falar com atendente")
    with db.write() as s:
        for chat in (old, waiting):
            row = s.get(Conversation, chat.id)
            assert row is not None
            row.last_message_at = utcnow() - dt.timedelta(days=400)
    with db.write() as s:
        assert retention.purge(s, settings.assistant_retention_days) >= 1
    with db.read() as s:
        assert s.get(Conversation, old.id) is None  # idle past retention
        assert s.get(Conversation, waiting.id) is not None  # a person still owes an answer
        assert s.scalar(select(func.count()).where(Message.conversation_id == old.id)) == 0
    with db.write() as s:
        exported = retention.PERSONAL_DATA.export(s, int(ids["customer"]))
        texts = [m["text"] for c in exported["conversations"] for m in c["messages"]]
        assert "oi" in texts
        assert retention.PERSONAL_DATA.erase(s, int(ids["customer"]))["conversations"] >= 1
    with db.read() as s:
        assert s.get(Conversation, mine.id) is None
