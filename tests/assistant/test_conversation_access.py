"""Who may read and write a conversation through the API, on both databases: a channel key
only the conversations it started (its live events and its rating included); another key's,
the widget's and a messaging channel's are the same 404 as a missing one. A key cannot plant a
conversation where a messaging channel would take it for a person's thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.service import Role
from sincro.app import create_app
from sincro.assistant import agents, conversations
from sincro.assistant.models import OWNER_KEY, Conversation
from sincro.config import Settings
from sincro.db import Database
from tests.assistant.people import make_agent, open_hours
from tests.assistant.test_channels import channel_settings, signed
from tests.factories import make_key

JSON = {"Accept": "application/json"}
BASE = "/v1/assistant/conversations"
PHONE = "+5511987654321"


@pytest.fixture
def local(settings: Settings) -> Settings:
    return channel_settings(open_hours(settings, assistant_train_at_start=False))


@pytest.fixture
def client(db: Database, local: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(local)) as c:
        yield c


def _h(key: str, **more: str) -> dict[str, str]:
    return {"X-API-Key": key, **more}


def _closed_with_rating_asked(db: Database, settings: Settings, conversation_id: int) -> None:
    agent = make_agent(db, "Ana Lima")
    with db.write() as s:
        agents.take(s, settings, conversation_id, agent)
        agents.answer(s, settings, conversation_id, agent, "Oi, sou a Ana.")
        agents.close(s, conversation_id, agent, "resolved", ask_csat=True)


def test_a_channel_key_sees_only_its_own_conversations(
    db: Database, local: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.assistant.channels import service as channel_service

    monkeypatch.setattr(channel_service, "_enqueue", lambda cid, seq: None)
    with db.write() as s:
        mine, other, admin = make_key(s, Role.channel), make_key(s, Role.channel), make_key(s)
    started = client.post(BASE, json={"channel": "app"}, headers=_h(mine))
    assert started.status_code == 201, started.text
    own = started.json()["id"]
    asked = client.post(
        f"{BASE}/{own}/messages", json={"text": "quero falar com um atendente"}, headers=_h(mine)
    )
    assert asked.json()["state"] == "waiting_agent"
    _closed_with_rating_asked(db, local, own)
    # a conversation of the widget and one of a messaging channel: nobody's key's
    with db.write() as s:
        widget, _ = conversations.start(s, channel="web", external_ref="site-key:1")
        widget_id = widget.id
    inbound = client.post(
        "/v1/assistant/channels/zap/inbound", **signed({"from": PHONE, "text": "oi"})
    )
    zap_id = inbound.json()["conversation_id"]

    def events(cid: int, key: str, **headers: str) -> int:
        r = client.get(f"{BASE}/{cid}/events", params={"wait": 0}, headers=_h(key, **headers))
        return r.status_code

    missing = client.get(f"{BASE}/999999/events", params={"wait": 0}, headers=_h(other, **JSON))
    assert missing.status_code == 404
    for cid in (own, widget_id, zap_id):
        for key in (other, mine) if cid != own else (other,):
            # long poll and SSE alike: the same 404 as for a conversation that does not exist
            assert events(cid, key, **JSON) == 404, (cid, key)
            assert events(cid, key) == 404, (cid, key)
            refused = client.get(
                f"{BASE}/{cid}/events", params={"wait": 0}, headers=_h(key, **JSON)
            )
            assert refused.json()["error"]["field"] == missing.json()["error"]["field"]
            assert client.get(f"{BASE}/{cid}", headers=_h(key)).status_code == 404
            said = client.post(f"{BASE}/{cid}/messages", json={"text": "oi"}, headers=_h(key))
            assert said.status_code == 404
            rated = client.post(f"{BASE}/{cid}/csat", json={"score": 1}, headers=_h(key))
            assert rated.status_code == 404, rated.text
    with db.read() as s:
        assert s.get(Conversation, own).csat is None  # type: ignore[union-attr]
    # the key that started it reads and rates it; an admin key reads every one
    seen = client.get(f"{BASE}/{own}/events", params={"wait": 0}, headers=_h(mine, **JSON))
    assert seen.status_code == 200 and seen.json()["state"]["csat_asked"] is True
    assert "Oi, sou a Ana." in [e["text"] for e in seen.json()["events"]]
    rated = client.post(f"{BASE}/{own}/csat", json={"score": 5}, headers=_h(mine))
    assert rated.status_code == 200, rated.text
    for cid in (own, widget_id, zap_id):
        assert events(cid, admin, **JSON) == 200


def test_a_key_cannot_plant_a_conversation_in_a_channels_thread(
    db: Database, local: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.assistant.channels import service as channel_service

    monkeypatch.setattr(channel_service, "_enqueue", lambda cid, seq: None)
    with db.write() as s:
        key = make_key(s, Role.channel)
    for channel in ("zap", "web"):
        planted = client.post(
            BASE, json={"channel": channel, "external_ref": PHONE}, headers=_h(key)
        )
        assert planted.status_code == 422 and planted.json()["error"]["field"] == "channel"
    # one planted before the check (or by hand) is not taken for the person's thread either
    with db.write() as s:
        old, _ = conversations.start(s, channel="zap", external_ref=PHONE)
        old.flow = {OWNER_KEY: 1}
        old_id = old.id
    inbound = client.post(
        "/v1/assistant/channels/zap/inbound", **signed({"from": PHONE, "text": "oi"})
    )
    assert inbound.status_code == 200, inbound.text
    assert inbound.json()["conversation_id"] != old_id
    with db.read() as s:
        assert s.get(Conversation, old_id).messages_count == 0  # type: ignore[union-attr]
