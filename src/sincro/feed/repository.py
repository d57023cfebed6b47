"""All SQL of the change feed: subscriptions, leases, the delivery log and feed cursors.

Writes that belong to a delivery in progress are *fenced*: they only apply while the caller
still holds the lease it took (``lease_until`` equals the caller's token) and the cursor is
where the caller read it, so a worker that lost its lease can never move a cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.events import Event, event_columns
from sincro.feed.models import FeedCursor, WebhookDelivery, WebhookSubscription
from sincro.feed.schemas import subscribed_topics
from sincro.feed.secrets import SecretRef

Sub = WebhookSubscription


@dataclass(frozen=True, slots=True)
class Filters:
    """What a subscription receives: its topics and, for stock changes, a SKU and location."""

    sku: str | None
    location: str | None
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lease:
    """A subscription as seen by the one worker allowed to deliver it until ``token``."""

    sub_id: int
    token: dt.datetime
    url: str
    secrets: SecretRef
    filters: Filters
    cursor: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one HTTP POST, as written to the delivery log."""

    first_seq: int
    success: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    at: dt.datetime


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


# --- outbox ----------------------------------------------------------------------------------


def max_seq(session: Session) -> int:
    """The newest outbox sequence number (0 when the outbox is empty)."""
    return session.scalar(select(func.max(Event.seq))) or 0


# --- subscriptions ---------------------------------------------------------------------------


def add_subscription(session: Session, url: str, salt: str, filters: Filters, cursor: int) -> Sub:
    sub = Sub(
        url=url,
        secret_salt=salt,
        sku=filters.sku,
        location=filters.location,
        topics=list(filters.topics),
        cursor_seq=cursor,
        active=True,
        attempts=0,
    )
    session.add(sub)
    session.flush()
    return sub


def get_subscription(session: Session, sub_id: int) -> Sub | None:
    return session.get(Sub, sub_id)


def list_subscriptions(session: Session, offset: int, limit: int) -> tuple[Sequence[Sub], int]:
    total = session.scalar(select(func.count()).select_from(Sub)) or 0
    rows = session.scalars(select(Sub).order_by(Sub.id).offset(offset).limit(limit)).all()
    return rows, total


def delete_subscription(session: Session, sub_id: int) -> bool:
    """Delete a subscription and its delivery log; False when it did not exist."""
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id))
    return _rowcount(session.execute(delete(Sub).where(Sub.id == sub_id))) == 1


def reactivate(session: Session, sub_id: int) -> bool:
    """Active again, failure count reset, due at once; the cursor is kept."""
    result = session.execute(
        update(Sub).where(Sub.id == sub_id).values(active=True, attempts=0, next_attempt_at=None)
    )
    return _rowcount(result) == 1


def rotate_secret(session: Session, sub: Sub, salt: str, overlap_until: dt.datetime) -> None:
    """Make ``salt`` current; the current secret stays valid until ``overlap_until``. A
    pre-0012 plaintext secret is kept only while it is that previous secret."""
    if sub.secret_salt is not None:
        sub.legacy_secret = None
    sub.previous_secret_salt = sub.secret_salt
    sub.previous_secret_until = overlap_until
    sub.secret_salt = salt
    session.flush()


def forget_expired_secrets(session: Session, now: dt.datetime) -> int:
    """Delete previous secrets (and plaintext legacy ones) whose overlap window has ended."""
    result = session.execute(
        update(Sub)
        .where(Sub.previous_secret_until < now, Sub.secret_salt.is_not(None))
        .values(previous_secret_salt=None, previous_secret_until=None, legacy_secret=None)
    )
    return _rowcount(result)


def secret_ref(sub: Sub) -> SecretRef:
    return SecretRef(
        sub.secret_salt, sub.previous_secret_salt, sub.previous_secret_until, sub.legacy_secret
    )


def list_deliveries(
    session: Session, sub_id: int, success: bool | None, offset: int, limit: int
) -> tuple[Sequence[WebhookDelivery], int]:
    """The delivery log of one subscription, newest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if success is not None:
        query = query.where(WebhookDelivery.success == success)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit)
    ).all()
    return rows, total


# --- delivery --------------------------------------------------------------------------------


def _free(now: dt.datetime) -> ColumnElement[bool]:
    return or_(Sub.lease_until.is_(None), Sub.lease_until < now)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return or_(Sub.next_attempt_at.is_(None), Sub.next_attempt_at <= now)


def due_subscription_ids(session: Session, now: dt.datetime, upto: int, limit: int) -> list[int]:
    """Active, unleased subscriptions whose retry time has come and that are behind ``upto``."""
    query = (
        select(Sub.id)
        .where(Sub.active.is_(True), Sub.cursor_seq < upto, _due(now), _free(now))
        .order_by(Sub.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def min_active_cursor(session: Session) -> int | None:
    return session.scalar(select(func.min(Sub.cursor_seq)).where(Sub.active.is_(True)))


def work_left(session: Session, now: dt.datetime, upto: int) -> bool:
    """After a dispatch that could deliver up to ``upto``: is a subscription active and either
    the outbox longer than ``upto`` or a subscription still due and behind it?"""
    if min_active_cursor(session) is None:
        return False
    return max_seq(session) > upto or bool(due_subscription_ids(session, now, upto, 1))


def acquire_lease(
    session: Session, sub_id: int, now: dt.datetime, token: dt.datetime
) -> Lease | None:
    """Take the lease with one conditional UPDATE; None when another worker holds it."""
    result = session.execute(
        update(Sub)
        .where(Sub.id == sub_id, Sub.active.is_(True), _due(now), _free(now))
        .values(lease_until=token)
    )
    if _rowcount(result) != 1:
        return None
    sub = session.get(Sub, sub_id, populate_existing=True)
    assert sub is not None
    filters = Filters(sub.sku, sub.location, subscribed_topics(sub.topics))
    return Lease(sub.id, token, sub.url, secret_ref(sub), filters, sub.cursor_seq, sub.attempts)


def _fenced(lease: Lease) -> ColumnElement[bool]:
    """Only while ``lease`` is still held and the cursor is where it was read."""
    return and_(
        Sub.id == lease.sub_id, Sub.lease_until == lease.token, Sub.cursor_seq == lease.cursor
    )


def _log(session: Session, lease: Lease, attempt: Attempt) -> None:
    session.add(
        WebhookDelivery(
            subscription_id=lease.sub_id,
            seq=attempt.first_seq,
            attempt=lease.attempts + 1,
            success=attempt.success,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            attempted_at=attempt.at,
        )
    )


def advance(
    session: Session,
    lease: Lease,
    cursor: int,
    next_token: dt.datetime | None,
    attempt: Attempt | None = None,
) -> bool:
    """Move the cursor (after a success or past filtered-out events), renew or drop the lease.

    Returns False, writing nothing, when the lease was lost or the subscription deleted.
    """
    result = session.execute(
        update(Sub)
        .where(_fenced(lease))
        .values(cursor_seq=cursor, attempts=0, next_attempt_at=None, lease_until=next_token)
    )
    if _rowcount(result) != 1:
        return False
    if attempt is not None:
        _log(session, lease, attempt)
    return True


def record_failure(
    session: Session, lease: Lease, attempt: Attempt, retry_at: dt.datetime | None
) -> bool:
    """Log a failed attempt and drop the lease; ``retry_at`` None deactivates the subscription."""
    values: dict[str, object] = {
        "attempts": lease.attempts + 1,
        "next_attempt_at": retry_at,
        "lease_until": None,
    }
    if retry_at is None:
        values["active"] = False
    result = session.execute(update(Sub).where(_fenced(lease)).values(**values))
    if _rowcount(result) != 1:
        return False
    _log(session, lease, attempt)
    return True


def release_lease(session: Session, lease: Lease) -> None:
    session.execute(
        update(Sub)
        .where(Sub.id == lease.sub_id, Sub.lease_until == lease.token)
        .values(lease_until=None)
    )


# --- feed cursors ----------------------------------------------------------------------------


def get_feed_cursor(session: Session, name: str) -> int | None:
    return session.scalar(select(FeedCursor.seq).where(FeedCursor.name == name))


def set_feed_cursor(session: Session, name: str, seq: int, now: dt.datetime) -> None:
    """Store a named position (update, or insert the first time)."""
    result = session.execute(
        update(FeedCursor).where(FeedCursor.name == name).values(seq=seq, updated_at=now)
    )
    if _rowcount(result) == 0:
        session.add(FeedCursor(name=name, seq=seq, updated_at=now))
        session.flush()


def lock_feed_cursor(session: Session, name: str, start: int, now: dt.datetime) -> int:
    """A named position locked for the caller's transaction (``FOR UPDATE``; SQLite's writer
    lock does the same), created at ``start`` the first time (``ON CONFLICT DO NOTHING``, so
    concurrent first readers agree on one row)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        module.insert(FeedCursor)
        .values(name=name, seq=start, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    seq = session.scalar(select(FeedCursor.seq).where(FeedCursor.name == name).with_for_update())
    return int(seq if seq is not None else start)


def events_after(session: Session, seq: int, limit: int) -> Sequence[Any]:
    """Outbox rows after ``seq`` in order, every topic (their numbers show the holes)."""
    return session.execute(
        select(*event_columns()).where(Event.seq > seq).order_by(Event.seq).limit(limit)
    ).all()
