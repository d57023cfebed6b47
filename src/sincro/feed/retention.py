"""Retention of the outbox and the webhook delivery log (a beat task, ``sincro.feed.prune``).

An outbox event is deleted only once every consumer with a cursor has passed it — every webhook
subscription (paused ones included: resuming continues from their cursor) and every feed cursor
(the RabbitMQ relay) — and, behind the slowest of them, once it is older than
``feed_events_keep_days`` or more than ``feed_events_keep_rows`` events back. What stays behind
the cursors serves SSE clients that reconnect with ``Last-Event-ID``. Delivery-log rows older
than ``feed_deliveries_keep_days`` are deleted. Deletes go in batches, each its own transaction,
so neither database holds a long write lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.events import Event
from sincro.feed.models import FeedCursor, WebhookDelivery, WebhookSubscription

BATCH = 20_000


@dataclass(frozen=True, slots=True)
class Pruned:
    events: int
    deliveries: int
    bound: int  # the slowest cursor (events after it are never deleted)


def slowest_cursor(session: Session) -> int:
    """The lowest sequence number any webhook or feed cursor has reached (the newest event when
    there is no cursor)."""
    cursors = [
        session.scalar(select(func.min(WebhookSubscription.cursor_seq))),
        session.scalar(select(func.min(FeedCursor.seq))),
    ]
    known = [c for c in cursors if c is not None]
    return min(known) if known else int(session.scalar(select(func.max(Event.seq))) or 0)


def _delete_events(session: Session, bound: int, older_than: dt.datetime, keep_rows: int) -> int:
    doomed = (
        select(Event.seq)
        .where(
            Event.seq <= bound, (Event.created_at < older_than) | (Event.seq <= bound - keep_rows)
        )
        .order_by(Event.seq)
        .limit(BATCH)
    )
    result = session.execute(delete(Event).where(Event.seq.in_(doomed.scalar_subquery())))
    assert isinstance(result, CursorResult)
    return result.rowcount


def _delete_deliveries(session: Session, older_than: dt.datetime) -> int:
    doomed = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.attempted_at < older_than)
        .order_by(WebhookDelivery.id)
        .limit(BATCH)
    )
    result = session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.id.in_(doomed.scalar_subquery()))
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


def prune(db: Database, settings: Settings, now: dt.datetime | None = None) -> Pruned:
    """Delete outbox events and delivery-log rows past their retention (see the module text)."""
    now = now or utcnow()
    with db.read() as session:
        bound = slowest_cursor(session)
    events_before = now - dt.timedelta(days=settings.feed_events_keep_days)
    deliveries_before = now - dt.timedelta(days=settings.feed_deliveries_keep_days)
    events = deliveries = 0
    while True:
        with db.write() as session:
            batch = _delete_events(session, bound, events_before, settings.feed_events_keep_rows)
        events += batch
        if batch < BATCH:
            break
    while True:
        with db.write() as session:
            batch = _delete_deliveries(session, deliveries_before)
        deliveries += batch
        if batch < BATCH:
            break
    return Pruned(events, deliveries, bound)
