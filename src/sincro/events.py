"""Transactional outbox for availability changes.

Every change of a stock level writes an :class:`Event` row in the same transaction as the
change, so the feed can never announce something that was rolled back nor miss something that
was committed. ``seq`` is the global sequence number; readers tail it (see
:mod:`sincro.feed.hub`) and tolerate the short-lived gaps PostgreSQL sequences leave while a
transaction that drew a number has not committed yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro.db import Base, UTCDateTime, insert_rows, on_commit, utcnow

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_sku_seq", "sku", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(32))
    available: Mapped[int] = mapped_column(Integer)
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    sku: str
    location: str
    available: int
    on_hand: int
    reserved: int
    version: int
    cause: str
    reference: str | None = None


_listeners: list[Any] = []


def add_commit_listener(callback: Any) -> None:
    """Call ``callback()`` after any transaction that recorded events commits (wakes tailers)."""
    _listeners.append(callback)


def remove_commit_listener(callback: Any) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def record_events(session: Session, changes: list[AvailabilityChange]) -> None:
    """Append availability changes to the outbox inside the caller's transaction."""
    if not changes:
        return
    now = utcnow()
    insert_rows(
        session,
        Event.__table__,  # type: ignore[arg-type]
        [
            {
                "sku": c.sku,
                "location": c.location,
                "available": c.available,
                "on_hand": c.on_hand,
                "reserved": c.reserved,
                "version": c.version,
                "cause": c.cause,
                "reference": c.reference,
                "created_at": now,
            }
            for c in changes
        ],
    )
    if _listeners and not session.info.get("events_listener_armed"):
        session.info["events_listener_armed"] = True
        for callback in _listeners:
            on_commit(session, callback)


def event_columns() -> tuple[Any, ...]:
    """The columns of an event, to read rows rather than ORM objects (about 4x cheaper per
    event; the feed reads them by the thousand)."""
    E = Event
    return (E.seq, E.sku, E.location, E.available, E.on_hand, E.reserved, E.version, E.cause,
            E.reference, E.created_at)  # fmt: skip


def event_to_dict(event: Any) -> dict[str, Any]:
    """An :class:`Event` or a row of :func:`event_columns` as the feed publishes it."""
    return {
        "seq": event.seq,
        "sku": event.sku,
        "location": event.location,
        "available": event.available,
        "on_hand": event.on_hand,
        "reserved": event.reserved,
        "version": event.version,
        "cause": event.cause,
        "reference": event.reference,
        "at": event.created_at.isoformat(),
    }
