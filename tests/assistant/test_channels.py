"""Channel adapters: the generic webhook adapter's signed inbound messages map a person to
one conversation; replies leave through the SSRF-safe client, signed, retried when the
platform is away, refused for private addresses."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro import safe_http
from sincro.app import create_app
from sincro.assistant import agents
from sincro.assistant.channels import config as channel_config, delivery, service, tasks
from sincro.assistant.channels.delivery import Outcome
from sincro.assistant.models import Conversation
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import InvalidInput

SECRET = "s" * 40
INBOUND = "/v1/assistant/channels/zap/inbound"


def channel_settings(
    settings: Settings, url: str = "https://gateway.example/out", **more: Any
) -> Settings:
    changes = {
        "assistant_channels": [{"name": "zap", "secret": SECRET, "outbound_url": url}],
        **more,
    }
    return settings.model_copy(update=changes)


def signed(
    body: dict[str, Any] | bytes, secret: str = SECRET, at: float | None = None
) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(at if at is not None else time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Sincro-Timestamp": stamp,
            "X-Sincro-Signature": f"v1={mac}",
        },
    }


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(service, "_enqueue", lambda cid, seq: sent.append((cid, seq)))
    return sent


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(channel_settings(settings))) as c:
        yield c


def test_signed_messages_of_one_person_share_a_conversation(
    client: TestClient, db: Database, queued: list[tuple[int, int]]
) -> None:
    r = client.post(INBOUND, **signed({"from": "+5511987654321", "text": "oi", "message_id": "m1"}))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "accepted" and first["seq"] == 1 and first["state"] == "bot"
    r = client.post(INBOUND, **signed({"from": "+5511987654321", "text": "tem iphone?"}))
    assert r.json()["conversation_id"] == first["conversation_id"]
    other = client.post(INBOUND, **signed({"from": "+5521999990000", "text": "oi"})).json()
    assert other["conversation_id"] != first["conversation_id"]
    # the same platform message again: answered once
    r = client.post(INBOUND, **signed({"from": "+5511987654321", "text": "oi", "message_id": "m1"}))
    assert r.json() == {"status": "duplicate", "conversation_id": None, "seq": None, "state": None}
    with db.read() as s:
        rows = s.scalars(select(Conversation).order_by(Conversation.id)).all()
        assert [(c.channel, c.external_ref, c.customer_id) for c in rows] == [
            ("zap", "+5511987654321", None),
            ("zap", "+5521999990000", None),
        ]
        assert rows[0].messages_count >= 4
    # every bot message is queued for delivery after its commit, by id and seq only
    assert (first["conversation_id"], 2) in queued and (first["conversation_id"], 4) in queued


@pytest.mark.one_database
def test_signatures_are_checked(client: TestClient, queued: list[tuple[int, int]]) -> None:
    body = {"from": "+5511987654321", "text": "oi"}
    refusals = [
        signed(body, secret="x" * 40),  # another secret
        signed(body, at=time.time() - 3600),  # stale: a replay
        {"content": json.dumps(body).encode(), "headers": {"Content-Type": "application/json"}},
    ]
    tampered = signed(body)
    tampered["content"] = json.dumps({**body, "text": "cancela tudo"}).encode()
    refusals.append(tampered)
    answers = set()
    for request in refusals:
        r = client.post(INBOUND, **request)
        assert r.status_code == 401, r.text
        answers.add(r.text)
    r = client.post("/v1/assistant/channels/nope/inbound", **signed(body))
    assert r.status_code == 401
    answers.add(r.text)
    assert len(answers) == 1  # an unknown channel looks like a bad signature
    r = client.post(INBOUND, **signed(b"not json"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = client.post(INBOUND, **signed({"from": "+55119", "text": "oi\x00"}))
    assert r.status_code == 422 and r.json()["error"]["field"] == "text"
    r = client.post(INBOUND, **signed({"text": "oi"}))
    assert r.status_code == 422 and r.json()["error"]["field"] == "from"
    big = signed({"from": "+55119", "text": "a" * 70_000})
    r = client.post(INBOUND, **big)
    assert r.status_code == 413  # capped, without an API key being asked for
    assert queued == []


class Receiver(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Receiver.got.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(Receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.got, Receiver.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/out"
    finally:
        server.shutdown()
        server.server_close()


def _conversation_with_reply(db: Database, settings: Settings) -> int:
    from sincro.assistant.channels import Inbound

    with db.write() as s:
        conversation_id, _reply = service.receive(
            s, settings, "zap", Inbound("+5511987654321", "oi")
        )
    return conversation_id


def test_replies_are_delivered_signed_and_retried(
    settings: Settings, db: Database, receiver: str, queued: list[tuple[int, int]]
) -> None:
    local = channel_settings(
        settings, receiver, feed_webhook_allow_http=True, feed_webhook_allowed_hosts=["127.0.0.1"]
    )
    conversation_id = _conversation_with_reply(db, local)
    assert delivery.deliver(db, local, conversation_id, 2) == Outcome.sent
    headers, body = Receiver.got[0]
    stamp, signature = headers["X-Sincro-Timestamp"], headers["X-Sincro-Signature"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert signature == f"v1={expected}"
    sent = json.loads(body)
    assert sent["to"] == "+5511987654321" and sent["seq"] == 2 and sent["sender"] == "bot"
    assert sent["text"] and sent["conversation_id"] == conversation_id
    assert delivery.deliver(db, local, conversation_id, 1) == Outcome.dropped  # the customer's
    # delivered once: the same task run again (a redelivery) sends nothing
    assert delivery.deliver(db, local, conversation_id, 2) == Outcome.dropped
    assert len(Receiver.got) == 1
    later = _conversation_with_reply(db, local)  # the same person's thread: seq 4 is the bot's
    assert later == conversation_id
    Receiver.status = 503
    assert delivery.deliver(db, local, conversation_id, 4) == Outcome.retry
    Receiver.status = 400
    assert delivery.deliver(db, local, conversation_id, 4) == Outcome.failed
    Receiver.status = 200
    assert delivery.deliver(db, local, conversation_id, 4) == Outcome.sent


@pytest.mark.one_database
def test_private_addresses_are_refused(
    settings: Settings,
    db: Database,
    receiver: str,
    monkeypatch: pytest.MonkeyPatch,
    queued: list[tuple[int, int]],
) -> None:
    # the receiver listens on loopback, but the allow-list does not name it
    local = channel_settings(settings, receiver, feed_webhook_allow_http=True)
    conversation_id = _conversation_with_reply(db, local)
    assert delivery.deliver(db, local, conversation_id, 2) == Outcome.failed
    # a name that resolves to a private address is refused at delivery, never connected
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["10.1.2.3"])
    inside = channel_settings(settings, "https://gateway.example/out")
    assert delivery.deliver(db, inside, conversation_id, 2) == Outcome.retry
    assert Receiver.got == []
    # literal private addresses and bad entries are refused when the api starts
    for url, field in (
        ("https://10.0.0.1/out", "SINCRO_ASSISTANT_CHANNELS[0].outbound_url"),
        ("https://169.254.169.254/latest", "SINCRO_ASSISTANT_CHANNELS[0].outbound_url"),
        ("file:///etc/passwd", "SINCRO_ASSISTANT_CHANNELS[0].outbound_url"),
        ("https://2130706433/", "SINCRO_ASSISTANT_CHANNELS[0].outbound_url"),
    ):
        with pytest.raises(InvalidInput) as refused:
            channel_config.configured(channel_settings(settings, url))
        assert refused.value.field == field
    short = settings.model_copy(
        update={
            "assistant_channels": [
                {"name": "zap", "secret": "x", "outbound_url": "https://a.example"}
            ]
        }
    )
    with pytest.raises(InvalidInput) as refused:
        channel_config.configured(short)
    assert refused.value.field == "SINCRO_ASSISTANT_CHANNELS[0].secret"
    web = settings.model_copy(
        update={
            "assistant_channels": [
                {"name": "web", "secret": SECRET, "outbound_url": "https://a.example"}
            ]
        }
    )
    with pytest.raises(InvalidInput):
        channel_config.configured(web)


@pytest.mark.one_database
def test_the_task_retries_transient_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter([Outcome.retry, Outcome.sent])
    monkeypatch.setattr(delivery, "deliver", lambda *args, **kw: next(outcomes))
    with pytest.raises(tasks.RetryDelivery):
        tasks.deliver_reply.run(1, 2)  # type: ignore[attr-defined]
    assert tasks.deliver_reply.run(1, 2) == "sent"  # type: ignore[attr-defined]
    assert issubclass(tasks.RetryDelivery, ConnectionError)  # in sincro.tasks' autoretry list


def test_an_agents_answers_go_out_to_the_platform_once(
    settings: Settings, db: Database, receiver: str, queued: list[tuple[int, int]]
) -> None:
    """The real app: a WhatsApp-like customer asks for a person, an agent takes, answers and
    closes in the console; every message of the agents' side reaches the platform (a local
    receiver) through the adapter, each queued exactly once; the rating is answered in the
    closed thread and a new message after it opens a new one."""
    from sincro.access import service as access
    from tests.assistant.people import open_hours
    from tests.console.support import csrf_of, sign_in

    local = channel_settings(
        open_hours(settings, assistant_train_at_start=False),
        receiver,
        feed_webhook_allow_http=True,
        feed_webhook_allowed_hosts=["127.0.0.1"],
    )
    with db.write() as s:
        access.create_user(s, "ana@sincro.example", "Ana Lima", "senha-forte-123", "agent")

    def drain() -> list[dict[str, Any]]:
        sent = []
        while queued:
            cid, seq = queued.pop(0)
            delivered.append((cid, seq))
            assert delivery.deliver(db, local, cid, seq) == Outcome.sent
            sent.append(json.loads(Receiver.got[-1][1]))
        return sent

    delivered: list[tuple[int, int]] = []
    phone = "+5511987654321"
    with TestClient(create_app(local)) as c:
        asked = c.post(INBOUND, **signed({"from": phone, "text": "quero falar com um atendente"}))
        assert asked.json()["state"] == "waiting_agent", asked.text
        conversation_id = asked.json()["conversation_id"]
        assert [m["sender"] for m in drain()] == ["bot"]  # the handoff notice

        assert sign_in(c, "ana@sincro.example", "senha-forte-123").status_code == 303
        page = f"/console/atendimento/conversas/{conversation_id}"

        def act(path: str, **data: str) -> None:
            token = csrf_of(c.get(page).text)
            done = c.post(f"{page}/{path}", data={**data, "csrf": token}, follow_redirects=False)
            assert done.status_code == 303, done.text
            assert "erro" not in done.headers["location"], done.headers["location"]

        act("assumir")
        act("responder", text="Oi! Aqui é a Ana. Como posso ajudar?")
        sent = drain()
        assert [(m["sender"], m["seq"]) for m in sent] == [("system", 3), ("agent", 4)]
        answer = sent[1]
        assert answer["to"] == phone and answer["text"] == "Oi! Aqui é a Ana. Como posso ajudar?"
        assert answer["conversation_id"] == conversation_id and answer["state"] == "agent"
        headers, body = Receiver.got[-1]
        stamp = headers["X-Sincro-Timestamp"]
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        assert headers["X-Sincro-Signature"] == f"v1={mac.hexdigest()}"

        # the customer answers on the platform: the agent reads it, nothing is re-sent
        more = c.post(INBOUND, **signed({"from": phone, "text": "minha internet caiu"}))
        assert more.json()["state"] == "agent" and drain() == []
        act("encerrar", reason="resolved", csat="1")
        assert [m["text"] for m in drain()][-1] == agents.CSAT_QUESTION
        rated = c.post(INBOUND, **signed({"from": phone, "text": "5"}))
        assert rated.json()["conversation_id"] == conversation_id
        assert [m["text"] for m in drain()] == ["Obrigado pela sua avaliação!"]
        again = c.post(INBOUND, **signed({"from": phone, "text": "oi"}))
        assert again.status_code == 200, again.text
        assert again.json()["conversation_id"] != conversation_id  # a new thread
        drain()
    assert len(delivered) == len(set(delivered)), delivered  # never queued twice
    for cid, seq in delivered:  # and a second run of any of them sends nothing
        assert delivery.deliver(db, local, cid, seq) == Outcome.dropped
    with db.read() as s:
        first = s.get(Conversation, conversation_id)
        assert first is not None and first.csat == 5


def test_the_sweep_sends_what_the_broker_never_took(
    settings: Settings, db: Database, receiver: str, queued: list[tuple[int, int]]
) -> None:
    """Replies written while the broker was away are queued again by the beat's sweep, once
    they are older than the task's own retries; delivered or refused ones, and messages never
    queued for a channel, are left alone."""
    import datetime as dt

    from sincro.assistant import conversations
    from sincro.assistant.channels import Inbound
    from sincro.assistant.models import Message
    from sincro.assistant.schedule import beat_entries
    from sincro.db import utcnow

    local = channel_settings(
        settings, receiver, feed_webhook_allow_http=True, feed_webhook_allowed_hosts=["127.0.0.1"]
    )
    first = _conversation_with_reply(db, local)  # the broker "lost" seq 2 (queued: a list)
    with db.write() as s:
        other, _ = service.receive(s, local, "zap", Inbound("+5521999990000", "oi"))
        widget, _token = conversations.start(s, channel="web", external_ref="site-key:1")
        conversations.append(s, widget, "bot", "oi do widget")
    now = utcnow()
    with db.read() as s:
        assert service.due(s, now) == []  # too recent: the task may still be retrying
    with db.write() as s:
        for m in s.scalars(select(Message)):
            m.created_at = now - dt.timedelta(minutes=20)
    with db.read() as s:
        assert service.due(s, now) == [(first, 2), (other, 2)]
    Receiver.status = 400  # the platform refuses the second for good
    assert delivery.deliver(db, local, other, 2) == Outcome.failed
    Receiver.status = 200
    with db.read() as s:
        pending = service.due(s, now)
    assert pending == [(first, 2)]
    queued.clear()
    service.requeue(pending)
    assert queued == [(first, 2)]
    assert delivery.deliver(db, local, first, 2) == Outcome.sent
    with db.read() as s:
        assert service.due(s, now) == []
        assert service.due(s, now + dt.timedelta(hours=7)) == []  # too old anyway
    assert "assistant-channel-redeliver" in beat_entries(local)
    assert "assistant-channel-redeliver" not in beat_entries(settings)
