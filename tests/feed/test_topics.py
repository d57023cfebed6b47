"""Outbox topics: typed payloads beside stock changes, in one order, on every reader."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from sincro import events
from sincro.app import create_app
from sincro.bus import EventBus
from sincro.config import Settings
from sincro.db import Database
from sincro.events import (
    STOCK,
    UnknownTopic,
    parse_payload,
    publish,
    register_topic,
    topic_of,
)
from sincro.feed.hub import EventHub
from sincro.feed.runtime import AMQP
from sincro.feed.tailer import OutboxTailer, read_events
from sincro.inventory.availability import AvailabilityCache, at_location
from tests.factories import make_location, make_product
from tests.feed.conftest import change_stock, last_seq, wait_for
from tests.feed.test_fanout import (  # noqa: F401
    RelayThread,
    fanout,
    observer,
    rabbitmq,
    relay_position,
)
from tests.feed.test_sse import server  # noqa: F401
from tests.feed.test_webhooks import World, world  # noqa: F401

NOTE = "test.note"


class Note(BaseModel):
    text: str
    count: int


register_topic(NOTE, Note)


def note(db: Database, text: str, count: int = 1) -> int:
    """Publish one note in its own transaction; returns its seq."""
    with db.write() as session:
        publish(session, NOTE, {"text": text, "count": count})
    return last_seq(db)


@pytest.fixture
def stock_world(db: Database) -> Database:
    with db.write() as s:
        make_location(s, code="LJ-A")
        make_product(s, sku="CEL-1")
    return db


def test_registry_refuses_what_it_cannot_read_back() -> None:
    register_topic(NOTE, Note)  # the same model again: harmless
    with pytest.raises(ValueError, match="already registered"):
        register_topic(NOTE, BaseModel)
    with pytest.raises(ValueError, match="already registered"):
        register_topic(STOCK, Note)
    with pytest.raises(ValueError, match="dotted lowercase"):
        register_topic("Not A Topic", Note)
    assert {STOCK, NOTE} <= events.topics()


def test_publish_validates_in_the_callers_transaction(db: Database) -> None:
    before = last_seq(db)
    with pytest.raises(ValidationError), db.write() as session:
        publish(session, NOTE, {"text": "no count"})
    with pytest.raises(UnknownTopic), db.write() as session:
        publish(session, "nobody.registered", {"x": 1})
    with pytest.raises(UnknownTopic), db.write() as session:
        publish(session, STOCK, {"sku": "CEL-1"})  # stock changes have their own writer
    with pytest.raises(RuntimeError), db.write() as session:
        publish(session, NOTE, Note(text="rolled back", count=1))
        raise RuntimeError("the caller fails after publishing")
    assert last_seq(db) == before


def test_topics_share_one_order_and_keep_their_shapes(stock_world: Database) -> None:
    db = stock_world
    tailer = OutboxTailer(db)
    tailer.start_at_end()
    first = change_stock(db, ("CEL-1", "LJ-A", 2))
    noted = note(db, "contagem de loja", 3)
    second = change_stock(db, ("CEL-1", "LJ-A", 1))
    polled = tailer.poll()
    assert [e["seq"] for e in polled] == [*first, noted, *second]
    stock, other = polled[0], polled[1]
    assert topic_of(stock) == STOCK and stock["sku"] == "CEL-1" and stock["on_hand"] == 2
    assert set(stock) == {
        "seq", "sku", "location", "available", "on_hand", "reserved", "version",
        "cause", "reference", "at",
    }  # fmt: skip
    assert other == {
        "seq": noted,
        "topic": NOTE,
        "payload": {"text": "contagem de loja", "count": 3},
        "at": other["at"],
    }
    assert parse_payload(other) == Note(text="contagem de loja", count=3)
    after = first[0] - 1
    assert [e["seq"] for e in read_events(db, after, noted, None, None, topics={NOTE})] == [noted]
    assert read_events(db, after, second[-1], "CEL-1", None) == [polled[0], polled[2]]


def test_bus_hands_each_topic_to_its_subscribers(stock_world: Database) -> None:
    db = stock_world
    bus = EventBus()
    cache = AvailabilityCache(db)
    everything: list[int] = []
    notes: list[dict[str, Any]] = []
    bus.subscribe(lambda batch: everything.extend(e["seq"] for e in batch))
    bus.subscribe(cache.apply_events, topic=STOCK)  # as inventory's runtime subscribes it
    bus.subscribe(notes.extend, topic=NOTE)
    hub = EventHub(OutboxTailer(db), bus.dispatch)
    hub.tailer.start_at_end()
    cache.get("CEL-1")
    seqs = [*change_stock(db, ("CEL-1", "LJ-A", 4)), note(db, "a")]
    seqs += change_stock(db, ("CEL-1", "LJ-A", 1))
    hub.publish(hub.tailer.poll())
    assert everything == seqs
    assert [e["seq"] for e in notes] == [seqs[1]]
    assert at_location(cache.get("CEL-1"), "LJ-A")["locations"][0]["on_hand"] == 5
    assert cache.stats.patches == 2


def sse(
    url: str, key: str, count: int, headers: dict[str, str] | None = None, on_open: Any = None
) -> list[tuple[str, dict[str, Any]]]:
    """The first ``count`` events of a stream as (event name, data) pairs."""
    out: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with httpx.stream("GET", url, headers={"X-API-Key": key, **(headers or {})}, timeout=10) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith(": connected") and on_open:
                on_open()
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, orjson.loads(line[6:])))
                if len(out) == count:
                    break
    return out


def test_sse_streams_the_topics_asked_for(server: tuple[str, str, Database]) -> None:  # noqa: F811
    base, key, db = server
    start = last_seq(db)
    noted = note(db, "primeira")
    stock = change_stock(db, ("A-1", "LJ1", 2))
    resume = {"Last-Event-ID": str(start)}
    default = sse(f"{base}/v1/events/stream", key, 1, resume)
    assert [(n, e["seq"]) for n, e in default] == [("availability", stock[0])]  # as always
    both = sse(f"{base}/v1/events/stream?topic={NOTE}&topic=stock", key, 2, resume)
    assert [(n, e["seq"]) for n, e in both] == [(NOTE, noted), ("availability", stock[0])]
    assert both[0][1]["payload"] == {"text": "primeira", "count": 1}

    live: list[int] = []

    def make_changes() -> None:
        live.extend(change_stock(db, ("A-1", "LJ1", 1)))
        live.append(note(db, "ao vivo", 2))

    notes = sse(f"{base}/v1/events/stream?topic={NOTE}", key, 1, on_open=make_changes)
    assert notes == [(NOTE, {"seq": live[1], "topic": NOTE, "payload": {"text": "ao vivo",
                     "count": 2}, "at": notes[0][1]["at"]})]  # fmt: skip
    r = httpx.get(f"{base}/v1/events/stream?topic=nope", headers={"X-API-Key": key})
    assert r.status_code == 422 and r.json()["error"]["field"] == "topic"


def test_non_stock_topics_travel_the_rabbitmq_fanout(
    fanout: Settings,  # noqa: F811
    db: Database,
    observer: Any,  # noqa: F811
) -> None:
    apps = [create_app(fanout), create_app(fanout)]
    notes: list[list[dict[str, Any]]] = [[], []]
    with TestClient(apps[0]), TestClient(apps[1]):
        for app, out in zip(apps, notes, strict=True):
            state = app.state.sincro
            state.bus.subscribe(out.extend, topic=NOTE)
            assert state.services[AMQP].ready.wait(5)
        relay = RelayThread(fanout, db).start()
        try:
            wait_for(lambda: relay_position(db, fanout) is not None, what="relay")
            expected = [*change_stock(db, ("CEL-1", "LJ-A", 1)), note(db, "réplicas", 7)]
            expected += change_stock(db, ("CEL-1", "LJ-A", 1))
            wait_for(lambda: all(len(n) == 1 for n in notes), what="both replicas")
            wait_for(lambda: relay_position(db, fanout) == expected[-1], what="the last batch")
        finally:
            relay.halt()
    for out in notes:
        assert [(e["seq"], e["payload"]) for e in out] == [
            (expected[1], {"text": "réplicas", "count": 7})
        ]
    published = [e for m in observer.drain() for e in m["events"]]
    assert [e["seq"] for e in published] == expected
    assert [topic_of(e) for e in published] == [STOCK, NOTE, STOCK]


def test_webhooks_deliver_the_topics_a_subscription_chose(world: World) -> None:  # noqa: F811
    both = world.subscribe("/both", topics=[NOTE, STOCK])
    plain = world.subscribe("/plain")
    assert (both["topics"], plain["topics"]) == ([STOCK, NOTE], [STOCK])
    seqs = [*change_stock(world.db, ("CEL-1", "LJ-A", 2)), note(world.db, "webhook", 5)]
    world.dispatch()
    assert world.receiver.delivered_seqs("/both") == seqs
    assert world.receiver.delivered_seqs("/plain") == seqs[:1]
    [request] = world.receiver.accepted("/both")
    assert orjson.loads(request.body)["events"][1]["payload"] == {"text": "webhook", "count": 5}
    assert world.get(plain["id"])["cursor_seq"] == seqs[1]  # moved past the note
    bad = world.client.post(
        "/v1/webhooks", json={"url": world.receiver.url(), "topics": ["nope"]}, headers=world.admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "topics"
