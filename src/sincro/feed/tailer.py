"""Reading the outbox in order: the gap-aware tailer.

PostgreSQL hands out ``seq`` values when rows are inserted, not when transactions commit, so
a reader can see event 11 before event 10 becomes visible. The tailer therefore delivers only
a contiguous run of sequence numbers; a hole is waited for up to ``gap_timeout`` seconds (the
transaction that drew the number may still commit) and then skipped as rolled back. SQLite
serialises writers, so there the run is always contiguous.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select

from sincro.db import Database, fetch_all_alone
from sincro.events import Event, event_columns, event_dicts, event_to_dict, iso_at


def _after_sql(param: str) -> str:
    """The poll's statement in the driver's own SQL (``param`` spells a named parameter):
    the columns of :func:`event_columns`, ``created_at`` as text for :func:`iso_at`."""
    names = [column.name for column in event_columns()]
    assert names[-1] == "created_at"
    fields = ", ".join([*names[:-1], "CAST(created_at AS TEXT)"])
    after, batch = param % "after", param % "batch"
    return f"SELECT {fields} FROM events WHERE seq > {after} ORDER BY seq LIMIT {batch}"


# A poll is one statement run alone on a pooled connection's driver connection (no Session,
# no SQLAlchemy execution nor row processing: plain tuples, prepared by psycopg after a few
# polls), autocommit on PostgreSQL: one SELECT sees one snapshot. ``created_at`` comes as
# text and becomes ``at`` by slicing (:func:`sincro.events.iso_at`), not through a datetime:
# every api process reads every event, a few thousand a second in a reservation storm
_AFTER = {"postgresql": _after_sql("%%(%s)s"), "sqlite": _after_sql(":%s")}


class OutboxTailer:
    def __init__(self, db: Database, gap_timeout: float = 5.0, batch: int = 2000) -> None:
        self.db, self.gap_timeout, self.batch = db, gap_timeout, batch
        self.position = 0
        self._gap_since: float | None = None

    def start_at_end(self) -> None:
        with self.db.read() as session:
            self.position = session.scalar(select(func.max(Event.seq))) or 0

    def start_at(self, seq: int) -> None:
        self.position = seq

    def poll(self) -> list[dict[str, Any]]:
        """Events after ``position`` in order, stopping at a hole younger than the timeout."""
        engine = self.db.read_engine
        sql = _AFTER[engine.dialect.name]
        rows = fetch_all_alone(engine, sql, {"after": self.position, "batch": self.batch})
        expected, taken = self.position + 1, 0
        for row in rows:
            if row[0] != expected and not self._hole_expired():
                break
            self._gap_since = None
            expected = row[0] + 1
            taken += 1
        if taken < len(rows):
            del rows[taken:]
        out = event_dicts(rows, iso_at)
        if out:
            self.position = out[-1]["seq"]
        return out

    def _hole_expired(self) -> bool:
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        return now - self._gap_since >= self.gap_timeout


def read_events(
    db: Database,
    after: int,
    upto: int,
    sku: str | None,
    location: str | None,
    limit: int = 5000,
    topics: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Stored events in (after, upto], filtered: the backlog a resuming SSE client missed.

    ``topics`` None reads every topic; ``sku`` and ``location`` match the stock columns, so
    they keep stock events only."""
    query = select(*event_columns()).where(Event.seq > after, Event.seq <= upto)
    if topics is not None:
        query = query.where(Event.topic.in_(sorted(topics)))
    if sku:
        query = query.where(Event.sku == sku)
    if location:
        query = query.where(Event.location == location)
    with db.read() as session:
        rows = session.execute(query.order_by(Event.seq).limit(limit)).all()
    return [event_to_dict(r) for r in rows]
