"""The tailer's raw read: gap-aware order (a hole is waited for, then skipped), and events
shaped exactly as the SQLAlchemy reads shape them (``at`` included), on both databases."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import insert

from sincro.db import Database
from sincro.events import Event, event_to_dict, iso_at
from sincro.feed.hub import EventHub
from sincro.feed.tailer import OutboxTailer, read_events

AT = dt.datetime(2026, 12, 7, 15, 34, 47, 120000, tzinfo=dt.UTC)


def put(db: Database, *seqs: int, at: dt.datetime = AT) -> None:
    """Stock events with these sequence numbers (as a writer that drew them would commit)."""
    fields = {"sku": "S-1", "location": "L1", "reserved": 0, "cause": "receipt"}
    rows = [
        {**fields, "seq": seq, "available": seq, "on_hand": seq, "version": seq, "created_at": at}
        for seq in seqs
    ]
    with db.write() as session:
        session.execute(insert(Event), rows)


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events]


def test_a_hole_is_waited_for_then_skipped(db: Database) -> None:
    tailer = OutboxTailer(db, gap_timeout=0.3)
    put(db, 1, 2, 4, 5)
    assert seqs(tailer.poll()) == [1, 2]  # 3 drawn, not committed (yet)
    assert tailer.poll() == [] and tailer.position == 2
    put(db, 3)  # it commits within the timeout: delivered in order
    assert seqs(tailer.poll()) == [3, 4, 5]
    put(db, 7, 8)
    assert tailer.poll() == []
    time.sleep(0.35)  # 6 was rolled back: skipped once the hole is older than the timeout
    assert seqs(tailer.poll()) == [7, 8]
    put(db, 6)  # too late: already skipped, never delivered out of order
    put(db, 9)
    assert seqs(tailer.poll()) == [9]


def test_a_batch_stops_at_the_tailers_batch_size(db: Database) -> None:
    tailer = OutboxTailer(db, batch=2)
    put(db, 1, 2, 3)
    assert seqs(tailer.poll()) == [1, 2]
    assert seqs(tailer.poll()) == [3]
    assert tailer.poll() == []


@pytest.mark.parametrize("micro", [0, 1, 120000, 999999])
def test_polled_events_are_shaped_as_the_orm_shapes_them(db: Database, micro: int) -> None:
    at = AT.replace(microsecond=micro)
    put(db, 1, at=at)
    polled = OutboxTailer(db).poll()
    with db.read() as session:
        stored = event_to_dict(session.get(Event, 1))
    assert polled == [stored] == read_events(db, 0, 1, None, None)
    assert polled[0]["at"] == at.isoformat()


def test_iso_at_is_isoformat_of_any_stored_spelling() -> None:
    for micro in (0, 1, 10, 500, 120000, 999999):
        at = AT.replace(microsecond=micro)
        naive = at.replace(tzinfo=None)
        trimmed = naive.strftime("%Y-%m-%d %H:%M:%S") + (
            "." + f"{micro:06d}".rstrip("0") if micro else ""
        )
        for stored in (trimmed, naive.strftime("%Y-%m-%d %H:%M:%S.%f"), naive.isoformat()):
            assert iso_at(stored) == at.isoformat(), stored


def test_the_hub_thread_delivers_committed_events_in_order(db: Database) -> None:
    """The hub's own polling thread hands batches to the loop; a wake-up polls at once."""
    import asyncio

    seen: list[int] = []

    async def run() -> None:
        hub = EventHub(OutboxTailer(db), lambda batch: seen.extend(seqs(batch)), poll_interval=30)
        sub = hub.subscribe(None, None)
        await hub.start()
        try:
            put(db, 1, 2)
            hub.wake()
            first = await asyncio.wait_for(sub.queue.get(), 5)
            put(db, 3)
            hub.wake()
            rest = [await asyncio.wait_for(sub.queue.get(), 5) for _ in range(2)]
        finally:
            await hub.stop()
        assert seqs([first, *rest]) == [1, 2, 3] and await sub.queue.get() is None
        assert hub._task is not None and not hub._task.is_alive()

    asyncio.run(run())
    assert seen == [1, 2, 3]
