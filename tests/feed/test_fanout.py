"""The RabbitMQ fan-out against a real broker: relay, leadership, replicas, catch-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kombu import Connection, Producer, Queue

from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.feed import amqp, repository as repo
from sincro.feed.amqp import AmqpFeed
from sincro.feed.hub import EventHub
from sincro.feed.relay import cursor_name, events_exchange, run_relay
from sincro.feed.runtime import AMQP, event_hub
from sincro.feed.tailer import OutboxTailer, read_events
from sincro.worker import broker_reachable
from tests.factories import make_location, make_product
from tests.feed.conftest import change_stock, wait_for
from tests.services import AMQP_URL, absent, unique

pytestmark = pytest.mark.rabbitmq


@pytest.fixture(scope="module")
def rabbitmq() -> str:
    if not broker_reachable(AMQP_URL):
        absent("RabbitMQ", f"no broker at {AMQP_URL}")
    return AMQP_URL


@pytest.fixture
def fanout(settings: Settings, db: Database, rabbitmq: str) -> Iterator[Settings]:
    """Settings on the real broker with an exchange of this test's own, deleted afterwards."""
    with db.write() as s:
        make_location(s, code="LJ-A")
        make_product(s, sku="CEL-1")
    change_stock(db, ("CEL-1", "LJ-A", 1))  # the wiped outbox's end is the sequence's end again
    amqp_settings = settings.model_copy(
        update={"broker_url": rabbitmq, "events_exchange": unique("sincro_test_events")}
    )
    yield amqp_settings
    with Connection(rabbitmq) as conn:
        events_exchange(amqp_settings.events_exchange)(conn.default_channel).delete()


@dataclass
class RelayThread:
    """``run_relay`` in a thread, as the ``sincro relay`` process runs it."""

    settings: Settings
    db: Database
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> RelayThread:
        self.thread = threading.Thread(
            target=run_relay,
            args=(self.settings, self.stop),
            kwargs={"db": self.db, "standby_retry": 0.1},
            daemon=True,
        )
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(5)
        assert not self.thread.is_alive()


class Observer:
    """A queue bound to the exchange, read with basic.get: sees exactly what was published."""

    def __init__(self, settings: Settings) -> None:
        self.conn = Connection(settings.broker_url)
        exchange = events_exchange(settings.events_exchange)
        self.queue = Queue(unique("observer"), exchange=exchange, exclusive=True)(
            self.conn.default_channel
        )
        self.queue.declare()
        self.messages: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.messages.append(message.decode())
        return self.messages

    def seqs(self) -> list[int]:
        return [e["seq"] for m in self.drain() for e in m["events"]]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def observer(fanout: Settings) -> Iterator[Observer]:
    watcher = Observer(fanout)
    yield watcher
    watcher.close()


def relay_position(db: Database, settings: Settings) -> int | None:
    with db.read() as s:
        return repo.get_feed_cursor(s, cursor_name(settings.events_exchange))


def assert_chained(messages: list[dict[str, Any]], start: int) -> None:
    """Each message follows the one before: its ``prev`` is the last seq published."""
    position = start
    for message in messages:
        assert message["prev"] == position
        position = message["events"][-1]["seq"]


def test_every_replica_receives_every_event_in_order(fanout: Settings, db: Database) -> None:
    apps = [create_app(fanout), create_app(fanout)]
    seen: list[list[int]] = [[], []]
    with TestClient(apps[0]), TestClient(apps[1]):
        for app, out in zip(apps, seen, strict=True):
            state = app.state.sincro
            assert event_hub(state).polling is False  # fed by RabbitMQ, not by polling

            def record(batch: list[dict[str, Any]], out: list[int] = out) -> None:
                out.extend(e["seq"] for e in batch)

            state.bus.subscribe(record)
            assert state.services[AMQP].ready.wait(5)
        relay = RelayThread(fanout, db).start()
        try:
            wait_for(lambda: relay_position(db, fanout) is not None, what="relay")
            expected = change_stock(db, ("CEL-1", "LJ-A", 1), ("CEL-1", "LJ-A", 2))
            for qty in range(3, 6):
                expected += change_stock(db, ("CEL-1", "LJ-A", qty))
            wait_for(lambda: all(len(s) >= len(expected) for s in seen), what="both replicas")
        finally:
            relay.halt()
    assert seen[0] == expected and seen[1] == expected


def test_relay_restart_resumes_from_its_stored_position(
    fanout: Settings, db: Database, observer: Observer
) -> None:
    start = change_stock(db, ("CEL-1", "LJ-A", 1))[-1]
    relay = RelayThread(fanout, db).start()
    wait_for(lambda: relay_position(db, fanout) == start, what="first run to start at the end")
    expected = change_stock(db, ("CEL-1", "LJ-A", 1), ("CEL-1", "LJ-A", 1))
    wait_for(lambda: relay_position(db, fanout) == expected[-1], what="first relay")
    relay.halt()
    down = change_stock(db, ("CEL-1", "LJ-A", 1)) + change_stock(db, ("CEL-1", "LJ-A", 1))
    assert relay_position(db, fanout) == expected[-1]  # stored, and not moved while down
    relay = RelayThread(fanout, db).start()
    try:
        wait_for(lambda: relay_position(db, fanout) == down[-1], what="restarted relay")
    finally:
        relay.halt()
    assert observer.seqs() == expected + down  # no loss, no duplicate, in order
    assert_chained(observer.messages, start)
    assert all(m["events"][0]["sku"] == "CEL-1" for m in observer.messages)


def test_one_relay_publishes_the_other_stands_by(
    fanout: Settings, db: Database, observer: Observer
) -> None:
    start = change_stock(db, ("CEL-1", "LJ-A", 1))[-1]
    leader = RelayThread(fanout, db).start()
    wait_for(lambda: relay_position(db, fanout) == start, what="leader")
    standby = RelayThread(fanout, db).start()
    try:
        expected = change_stock(db, ("CEL-1", "LJ-A", 1))
        wait_for(lambda: observer.seqs() == expected, what="leader to publish")
        leader.halt()  # the standby takes over within its retry interval
        expected += change_stock(db, ("CEL-1", "LJ-A", 1))
        wait_for(lambda: len(observer.seqs()) >= len(expected), what="standby to publish")
    finally:
        leader.halt()
        standby.halt()
    assert observer.seqs() == expected
    assert_chained(observer.messages, start)


def test_consumer_that_missed_messages_catches_up_from_the_outbox(
    fanout: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(amqp, "IDLE_CHECK_SECONDS", 0.3)
    seen: list[int] = []
    hub = EventHub(OutboxTailer(db), lambda batch: seen.extend(e["seq"] for e in batch), poll=False)

    def publish(prev: int, events: list[int]) -> None:
        rows = read_events(db, events[0] - 1, events[-1], None, None)
        with Connection(fanout.broker_url) as conn:
            Producer(conn.default_channel).publish(
                {"prev": prev, "events": rows},
                exchange=events_exchange(fanout.events_exchange),
                declare=[events_exchange(fanout.events_exchange)],
            )

    async def scenario() -> None:
        await hub.start()
        feed = AmqpFeed(fanout, db, hub)
        feed.start(asyncio.get_running_loop())
        try:
            assert await asyncio.to_thread(feed.ready.wait, 5)
            missed = change_stock(db, ("CEL-1", "LJ-A", 1), ("CEL-1", "LJ-A", 1))
            fresh = change_stock(db, ("CEL-1", "LJ-A", 1))
            await asyncio.to_thread(publish, missed[-1], fresh)  # the messages before were lost
            await asyncio.to_thread(publish, missed[-1], fresh)  # a batch published twice
            later = change_stock(db, ("CEL-1", "LJ-A", 1))
            await asyncio.to_thread(publish, fresh[-1], later)
            await _until(lambda: len(seen) >= 4)
            assert seen == missed + fresh + later
            quiet = change_stock(db, ("CEL-1", "LJ-A", 1))  # its message never arrives...
            with db.write() as s:  # ...but the relay stored that it was published
                repo.set_feed_cursor(s, cursor_name(fanout.events_exchange), quiet[-1], utcnow())
            await _until(lambda: len(seen) >= 5)
            assert seen == missed + fresh + later + quiet
        finally:
            await asyncio.to_thread(feed.stop)
            await hub.stop()

    asyncio.run(scenario())


async def _until(check: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            pytest.fail("timed out waiting for the hub")
        await asyncio.sleep(0.02)
