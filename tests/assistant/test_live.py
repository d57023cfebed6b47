"""The customer side of a live conversation on both databases:
``GET /v1/assistant/conversations/{id}/events`` as a long poll woken by the outbox (not by its
safety-net poll), what it shows (agents' messages and notices, place in the queue, never the
customer's own text), who may read it, and ``POST …/csat``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.service import Role, authenticate
from sincro.app import create_app
from sincro.assistant import agents
from sincro.assistant.models import OWNER_KEY, Conversation
from sincro.config import Settings
from sincro.db import Database
from tests.assistant.people import make_agent, open_hours, queued
from tests.factories import make_key, make_location

JSON = {"Accept": "application/json"}


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    # a safety-net poll far longer than the test waits: only an outbox wake-up is fast enough
    return open_hours(settings, assistant_live_poll_seconds=20.0, assistant_train_at_start=False)


@pytest.fixture
def client(db: Database, live_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(live_settings)) as c:
        yield c


def test_the_customer_side_wakes_on_the_agents_answer(
    db: Database, live_settings: Settings, client: TestClient
) -> None:
    settings = live_settings
    with db.write() as s:
        plaintext = make_key(s, Role.channel)
        key = {"X-API-Key": plaintext, **JSON}
    agent = make_agent(db, "Ana Lima")
    conversation_id = queued(db, settings, "meu CPF é 529.982.247-25, quero um humano")
    with db.write() as s:  # as if this channel key had started it (only then may it read it)
        owned = s.get(Conversation, conversation_id)
        assert owned is not None
        owned.flow = {OWNER_KEY: authenticate(s, plaintext).key_id}
    url = f"/v1/assistant/conversations/{conversation_id}/events"

    first = client.get(url, params={"wait": 0}, headers=key)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["events"] == []  # the customer's own message is not echoed
    assert body["state"]["state"] == "waiting_agent" and body["state"]["position"] == 1
    assert body["last_seq"] == 1

    def agent_acts() -> None:
        time.sleep(0.4)
        with db.write() as session:
            agents.take(session, settings, conversation_id, agent)

    worker = threading.Thread(target=agent_acts)
    worker.start()
    started = time.monotonic()
    woken = client.get(url, params={"after": 1, "wait": 15}, headers=key)
    elapsed = time.monotonic() - started
    worker.join()
    assert woken.status_code == 200
    assert elapsed < 8, f"woken after {elapsed:.1f} s: the outbox did not wake the poll"
    taken = woken.json()
    assert [(e["sender"], e.get("event"), e.get("agent")) for e in taken["events"]] == [
        ("system", "taken", "Ana")
    ]
    assert taken["state"]["state"] == "agent" and taken["last_seq"] == 2

    with db.write() as session:
        agents.answer(session, settings, conversation_id, agent, "Oi! Sou a Ana, vou ajudar.")
        agents.close(session, conversation_id, agent, "resolved", ask_csat=True)
    rest = client.get(url, params={"after": 2, "wait": 0}, headers=key).json()
    assert rest["events"][0]["text"] == "Oi! Sou a Ana, vou ajudar."
    assert [e.get("event") for e in rest["events"]] == [None, "closed", "csat_request"]
    assert rest["state"] == {"state": "closed", "seq": 5, "csat_asked": True}
    assert "Lima" not in woken.text + str(rest)  # agents are named by first name only

    rate = f"/v1/assistant/conversations/{conversation_id}/csat"
    assert client.post(rate, json={"score": "5"}, headers=key).status_code == 422
    assert client.post(rate, json={"score": 6}, headers=key).json()["error"]["field"]
    done = client.post(rate, json={"score": 5}, headers=key)
    assert done.status_code == 200 and done.json() == {
        "conversation_id": conversation_id,
        "csat": 5,
    }
    again = client.post(rate, json={"score": 4}, headers=key)
    assert again.status_code == 409 and again.json()["error"]["field"] == "score"


def test_who_may_read_a_conversation(db: Database, client: TestClient) -> None:
    with db.write() as s:
        make_location(s, code="LJ-1")
        store = make_key(s, Role.store, ("LJ-1",))
        admin = make_key(s)
    url = "/v1/assistant/conversations/{}/events"
    assert client.get(url.format(1), headers=JSON).status_code == 401
    forbidden = client.get(url.format(1), headers={"X-API-Key": store, **JSON})
    assert forbidden.status_code == 403
    missing = client.get(url.format(999), params={"wait": 0}, headers={"X-API-Key": admin, **JSON})
    assert missing.status_code == 404
    bad = client.get(url.format(1), params={"after": -1}, headers={"X-API-Key": admin, **JSON})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "after"
    huge = client.get(url.format(2**40), headers={"X-API-Key": admin, **JSON})
    assert huge.status_code == 422
