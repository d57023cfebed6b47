"""The service heartbeats and queue depth samples (kernel tables) and every statement on them.

Written by :mod:`sincro.health` (one upsert per process per beat; the beat's queue samples),
read by the ``ops`` domain (``GET /v1/health/services``, the console's "Saúde" page, the alert
check). An instance is ``host:pid``; its status follows from how long it has been silent,
measured against its own beat interval:

- ``ok``: heard from within 3 beats;
- ``stale``: 3 beats missed, not yet ``down_after`` seconds;
- ``down``: silent for ``down_after`` seconds (``SINCRO_HEALTH_DOWN_AFTER_SECONDS``) or more;
- ``stopped``: said goodbye (a clean shutdown).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import JSON, Float, Index, Integer, String, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro.db import Base, UTCDateTime

Status = Literal["ok", "stale", "down", "stopped"]
MISSED_BEATS = 3


class ServiceHeartbeat(Base):
    """One running (or recently running) process: what it is, what it serves, when it last
    reported, its recent errors (scrubbed) and the figures it read from its own metrics."""

    __tablename__ = "service_heartbeats"

    instance: Mapped[str] = mapped_column(String(160), primary_key=True)  # host:pid
    kind: Mapped[str] = mapped_column(String(20))  # api | worker | beat | relay | watcher | …
    host: Mapped[str] = mapped_column(String(120))
    pid: Mapped[int] = mapped_column(Integer)
    parent: Mapped[str | None] = mapped_column(String(160))  # a worker's pool process: its node
    version: Mapped[str] = mapped_column(String(40))
    queues: Mapped[Any] = mapped_column(JSON, nullable=False)  # list of queue names
    interval_seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    errors: Mapped[Any] = mapped_column(
        JSON, nullable=False
    )  # [{"at", "level", "logger", "message"}], newest last
    figures: Mapped[Any] = mapped_column(JSON, nullable=False)  # {figure key: number}


class QueueDepthSample(Base):
    """Messages waiting in one broker queue at one moment (sampled by the beat process)."""

    __tablename__ = "queue_depth_samples"
    __table_args__ = (Index("ix_queue_depth_samples_queue_at", "queue", "sampled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(80))
    depth: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


HB: Any = ServiceHeartbeat.__table__
UPDATED_ON_BEAT = (
    "kind",
    "host",
    "pid",
    "parent",
    "version",
    "queues",
    "interval_seconds",
    "started_at",
    "last_seen",
    "stopped_at",
    "errors",
    "figures",
)


def upsert_heartbeat(session: Session, row: Mapping[str, Any]) -> None:
    """Insert or refresh one instance's row: one ``INSERT … ON CONFLICT DO UPDATE``, built
    once per dialect and set of columns (building it, with its ``excluded`` alias, cost more
    CPU than the rest of a beat)."""
    session.execute(_upsert(session.get_bind().dialect.name, tuple(row)), dict(row))


@functools.cache
def _upsert(dialect: str, names: tuple[str, ...]) -> Any:
    builder: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(HB)
    changed = {name: statement.excluded[name] for name in UPDATED_ON_BEAT if name in names}
    return statement.on_conflict_do_update(index_elements=["instance"], set_=changed)


def status_of(row: ServiceHeartbeat, now: dt.datetime, down_after: float) -> Status:
    """ok / stale (3 beats missed) / down (silent ``down_after`` s) / stopped (clean exit)."""
    if row.stopped_at is not None:
        return "stopped"
    silent = (now - row.last_seen).total_seconds()
    if silent >= max(down_after, MISSED_BEATS * row.interval_seconds):
        return "down"
    if silent > MISSED_BEATS * row.interval_seconds:
        return "stale"
    return "ok"


def heartbeats(session: Session) -> list[ServiceHeartbeat]:
    """Every instance, by kind then host and pid."""
    query = select(ServiceHeartbeat).order_by(
        ServiceHeartbeat.kind, ServiceHeartbeat.host, ServiceHeartbeat.pid
    )
    return list(session.scalars(query))


def record_depths(session: Session, depths: Mapping[str, int], at: dt.datetime) -> None:
    """One sample per queue, all taken at ``at``."""
    if depths:
        rows = [{"queue": q, "depth": int(d), "sampled_at": at} for q, d in depths.items()]
        session.execute(insert(QueueDepthSample), rows)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """A queue's latest depth and, when it is above ``limit``, since when it has been."""

    queue: str
    depth: int
    sampled_at: dt.datetime
    above_since: dt.datetime | None


def latest_depths(session: Session, limit: int) -> list[QueueDepth]:
    """Each sampled queue's latest depth; for those above ``limit``, the first sample of the
    unbroken run above it (how long the queue has been backed up)."""
    S = QueueDepthSample
    latest = (
        select(S.queue, func.max(S.sampled_at).label("at")).group_by(S.queue).subquery("latest")
    )
    rows = session.execute(
        select(S.queue, S.depth, S.sampled_at)
        .join(latest, (S.queue == latest.c.queue) & (S.sampled_at == latest.c.at))
        .order_by(S.queue)
    ).all()
    found: dict[str, QueueDepth] = {}
    for queue, depth, at in rows:
        since = None
        if depth > limit:
            last_fine = session.scalar(
                select(func.max(S.sampled_at)).where(S.queue == queue, S.depth <= limit)
            )
            first_above = select(func.min(S.sampled_at)).where(S.queue == queue)
            if last_fine is not None:
                first_above = first_above.where(S.sampled_at > last_fine)
            since = session.scalar(first_above)
        found.setdefault(queue, QueueDepth(queue, int(depth), at, since))
    return list(found.values())


def depth_history(
    session: Session, since: dt.datetime, queues: Sequence[str] | None = None
) -> list[tuple[str, dt.datetime, int]]:
    """(queue, sampled_at, depth) since ``since``, oldest first."""
    S = QueueDepthSample
    query = select(S.queue, S.sampled_at, S.depth).where(S.sampled_at >= since)
    if queues is not None:
        query = query.where(S.queue.in_(list(queues)))
    rows = session.execute(query.order_by(S.sampled_at, S.queue)).all()
    return [(q, at, int(d)) for q, at, d in rows]


def prune(session: Session, before: dt.datetime) -> tuple[int, int]:
    """Delete instances not heard from since ``before`` and depth samples older than it;
    returns (instances, samples) deleted."""
    gone: Any = session.execute(delete(ServiceHeartbeat).where(ServiceHeartbeat.last_seen < before))
    old: Any = session.execute(delete(QueueDepthSample).where(QueueDepthSample.sampled_at < before))
    return int(gone.rowcount or 0), int(old.rowcount or 0)
