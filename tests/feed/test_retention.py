"""Outbox and delivery-log retention: old events go, but never one a webhook or relay cursor
has not passed; old delivery-log rows go."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from sincro.config import Settings
from sincro.db import Database
from sincro.events import Event
from sincro.feed import retention
from sincro.feed.models import FeedCursor, WebhookDelivery, WebhookSubscription
from sincro.feed.schedule import beat_entries

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _events(db: Database, ages_days: list[float]) -> list[int]:
    with db.write() as s:
        rows = [
            Event(
                sku="CEL-1", location="LJ0001", available=1, created_at=NOW - dt.timedelta(days=a)
            )
            for a in ages_days
        ]
        s.add_all(rows)
        s.flush()
        return [r.seq for r in rows]


def _seqs(db: Database) -> list[int]:
    with db.read() as s:
        return list(s.scalars(select(Event.seq).order_by(Event.seq)))


def _subscription(db: Database, cursor: int, active: bool = True) -> int:
    with db.write() as s:
        sub = WebhookSubscription(
            url="https://example.com/hook", secret_salt="x" * 32, cursor_seq=cursor, active=active
        )
        s.add(sub)
        s.flush()
        return sub.id


def test_events_a_cursor_has_not_passed_are_never_deleted(db: Database, settings: Settings) -> None:
    seqs = _events(db, [30, 30, 30, 30, 30, 1, 1])  # five old, two recent
    _subscription(db, cursor=seqs[1])  # a slow webhook: has passed only the first two
    _subscription(db, cursor=seqs[0], active=False)  # paused: resumes from its cursor
    with db.write() as s:
        s.add(FeedCursor(name="relay", seq=seqs[4], updated_at=NOW))
    done = retention.prune(db, settings, NOW)
    assert done.bound == seqs[0] and done.events == 1
    assert _seqs(db) == seqs[1:]
    with db.write() as s:  # the paused one is deleted: the slow webhook is now the bound
        s.execute(
            WebhookSubscription.__table__.delete().where(WebhookSubscription.active.is_(False))
        )
    retention.prune(db, settings, NOW)
    assert _seqs(db) == seqs[2:]


def test_keep_rows_bounds_recent_events_behind_the_slowest_cursor(
    db: Database, settings: Settings
) -> None:
    seqs = _events(db, [0.1] * 10)  # all recent
    with db.write() as s:
        s.add(FeedCursor(name="relay", seq=seqs[7], updated_at=NOW))
    settings.feed_events_keep_rows = 3
    retention.prune(db, settings, NOW)
    assert _seqs(db) == seqs[5:]  # 3 behind the cursor, and what it has not passed


def test_old_delivery_log_rows_are_deleted(db: Database, settings: Settings) -> None:
    sub = _subscription(db, cursor=0)
    with db.write() as s:
        for age in (30, 8, 1):
            s.add(
                WebhookDelivery(
                    subscription_id=sub,
                    seq=1,
                    attempt=1,
                    success=True,
                    status_code=200,
                    error=None,
                    duration_ms=3,
                    attempted_at=NOW - dt.timedelta(days=age),
                )
            )
    assert retention.prune(db, settings, NOW).deliveries == 2
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_retention_is_a_beat_entry(settings: Settings) -> None:
    assert beat_entries(settings)["feed-prune"]["task"] == "sincro.feed.prune"
