"""The availability cache: loads racing the feed, and snapshots shared through Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sincro.db import Database
from sincro.feed.tailer import OutboxTailer
from sincro.inventory import availability
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.shared import SharedSnapshots
from tests.factories import make_location, make_product, receive
from tests.services import REDIS_URL


@pytest.fixture
def stocked(db: Database) -> Database:
    with db.write() as s:
        make_location(s, code="CD1", kind="dc")
        make_location(s, code="LJ1")
        make_product(s, sku="SKU-A")
    with db.write() as s:
        receive(s, "SKU-A", "CD1", 10)
    return db


def tailer_at_end(db: Database) -> OutboxTailer:
    """Like the hub: follow only what happens from now on (sequences outlive emptied tables)."""
    tailer = OutboxTailer(db)
    tailer.start_at_end()
    return tailer


def feed_once(tailer: OutboxTailer, cache: AvailabilityCache) -> None:
    cache.apply_events(tailer.poll())


def online(cache: AvailabilityCache) -> int:
    return cache.get("SKU-A").summary()["online_available"]  # type: ignore[no-any-return]


def test_event_arriving_during_a_load_is_not_lost(
    stocked: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = AvailabilityCache(stocked)
    tailer = tailer_at_end(stocked)
    real_load = availability.load_snapshot

    def slow_load(session, sku):  # type: ignore[no-untyped-def]
        snap = real_load(session, sku)  # reads 10 units...
        with stocked.write() as s:  # ...then a receipt commits and the feed delivers it
            receive(s, "SKU-A", "CD1", 5)
        feed_once(tailer, cache)
        return snap

    monkeypatch.setattr(availability, "load_snapshot", slow_load)
    assert online(cache) == 15


def test_warm_snapshot_is_patched_not_reloaded(stocked: Database) -> None:
    cache, tailer = AvailabilityCache(stocked), tailer_at_end(stocked)
    assert online(cache) == 10
    with stocked.write() as s:
        receive(s, "SKU-A", "LJ1", 3)
    feed_once(tailer, cache)
    assert online(cache) == 13 and cache.stats.misses == 1


@pytest.fixture
def redis_client(redis_prefix: str) -> Iterator[tuple[object, str]]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    yield client, redis_prefix
    client.close()


def test_replicas_share_snapshots_through_redis(
    stocked: Database, redis_client: tuple[object, str]
) -> None:
    client, prefix = redis_client
    first = AvailabilityCache(stocked, shared=SharedSnapshots(client, prefix))
    assert online(first) == 10  # loads from the database and stores in Redis
    with stocked.write() as s:
        receive(s, "SKU-A", "CD1", 7)
    second = AvailabilityCache(stocked, shared=SharedSnapshots(client, prefix))
    tailer = tailer_at_end(stocked)
    second.position = tailer.position  # a replica whose feed is already past the receipt
    assert online(second) == 17  # shared copy (10) caught up from the outbox (+7)
    assert second.stats.shared_hits == 1


def test_concurrent_misses_load_once(stocked: Database) -> None:
    cache = AvailabilityCache(stocked)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(online(cache))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [10] * 8 and cache.stats.misses == 1


class _Refusing:
    """A Redis client whose every call fails the way a Redis that is down does."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: str) -> bytes:
        import redis

        self.calls += 1
        raise redis.exceptions.ConnectionError("connection refused")

    set = get  # type: ignore[assignment]


def test_a_failing_shared_store_falls_back_to_the_database(stocked: Database) -> None:
    client = _Refusing()
    cache = AvailabilityCache(stocked, shared=SharedSnapshots(client, "x:"))
    assert online(cache) == 10  # read from the database, not a 503
    assert cache.stats.shared_errors == 1 and client.calls == 1  # the put is skipped too
    cache.forget()
    assert online(cache) == 10  # within the back-off: Redis is not asked again
    assert client.calls == 1


def test_the_shared_store_is_asked_again_after_the_back_off(stocked: Database) -> None:
    client = _Refusing()
    cache = AvailabilityCache(stocked, shared=SharedSnapshots(client, "x:"))
    assert online(cache) == 10
    cache._shared_outage_until = 0.0  # the back-off is over
    cache.forget()
    assert online(cache) == 10 and client.calls == 2 and cache.stats.shared_errors == 2
