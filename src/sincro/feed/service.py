"""Rules for webhook subscriptions. Functions take the caller's session and never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from sincro import audit, safe_http
from sincro.audit import Actor, Entity
from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.db import utcnow
from sincro.errors import InvalidInput, NotFound
from sincro.events import event_to_dict, topics
from sincro.feed import repository as repo
from sincro.feed.models import WebhookDelivery, WebhookSubscription
from sincro.feed.repository import Filters
from sincro.feed.schemas import WebhookIn, subscribed_topics
from sincro.feed.secrets import derive, new_salt


def webhook_policy(settings: Settings) -> safe_http.Policy:
    """What webhook URLs may reach: https only unless ``feed_webhook_allow_http``; private
    addresses only for hosts in ``feed_webhook_allowed_hosts``."""
    return safe_http.Policy(
        allow_http=bool(settings.feed_webhook_allow_http),
        allowed_hosts=safe_http.normalise_hosts(settings.feed_webhook_allowed_hosts),
    )


def check_url(url: str, settings: Settings) -> safe_http.Target:
    """``url`` checked and normalised (DNS included: call it outside a transaction); a
    refused URL is a 422 naming ``url``."""
    return safe_http.check(url, webhook_policy(settings))


def create_subscription(
    session: Session, body: WebhookIn, target: safe_http.Target, actor: Actor, secret_key: str
) -> tuple[WebhookSubscription, str]:
    """Subscribe ``target`` (``body.url`` as :func:`check_url` accepted it) from the current
    end of the outbox; returns it and its secret. Audited as ``webhook.create``."""
    if body.sku and not catalog.product_ids(session, [body.sku]):
        raise InvalidInput(f"unknown SKU {body.sku!r}", field="sku")
    if body.location and not catalog.places_by_code(session, [body.location]):
        raise InvalidInput(f"unknown location {body.location!r}", field="location")
    unknown = sorted(set(body.topics) - topics())
    if unknown:
        raise InvalidInput(f"unknown topic(s): {', '.join(unknown)}", field="topics")
    salt = new_salt()
    sub = repo.add_subscription(
        session,
        target.url,
        salt,
        Filters(body.sku, body.location, tuple(sorted(set(body.topics)))),
        repo.max_seq(session),
    )
    audit.record(session, actor, "webhook.create", _entity(sub.id), None, _view(sub))
    return sub, derive(secret_key, salt)


def rotate_secret(
    session: Session, sub_id: int, actor: Actor, settings: Settings
) -> tuple[WebhookSubscription, str]:
    """A new signing secret, returned this once; the current one stays valid (deliveries carry
    both signatures) for ``feed_webhook_secret_overlap_seconds``. Audited as
    ``webhook.rotate_secret``."""
    sub = get_subscription(session, sub_id)
    before = _view(sub)
    salt = new_salt()
    overlap = dt.timedelta(seconds=settings.feed_webhook_secret_overlap_seconds)
    repo.rotate_secret(session, sub, salt, utcnow() + overlap)
    audit.record(session, actor, "webhook.rotate_secret", _entity(sub_id), before, _view(sub))
    return sub, derive(settings.secret_key, salt)


def get_subscription(session: Session, sub_id: int) -> WebhookSubscription:
    sub = repo.get_subscription(session, sub_id)
    if sub is None:
        raise NotFound(f"webhook subscription {sub_id} not found", field="id")
    return sub


def list_subscriptions(
    session: Session, offset: int, limit: int
) -> tuple[Sequence[WebhookSubscription], int]:
    return repo.list_subscriptions(session, offset, limit)


def delete_subscription(session: Session, sub_id: int, actor: Actor) -> None:
    """Forget a subscription and its delivery log. Audited as ``webhook.delete``."""
    before = _view(get_subscription(session, sub_id))
    if not repo.delete_subscription(session, sub_id):
        raise NotFound(f"webhook subscription {sub_id} not found", field="id")
    audit.record(session, actor, "webhook.delete", _entity(sub_id), before, None)


def resume_subscription(session: Session, sub_id: int, actor: Actor) -> WebhookSubscription:
    """Re-activate a subscription (e.g. disabled after failures); it resumes from its cursor.
    Audited as ``webhook.resume``."""
    before = _view(get_subscription(session, sub_id))
    if not repo.reactivate(session, sub_id):
        raise NotFound(f"webhook subscription {sub_id} not found", field="id")
    session.expire_all()
    sub = get_subscription(session, sub_id)
    audit.record(session, actor, "webhook.resume", _entity(sub_id), before, _view(sub))
    return sub


def _entity(sub_id: int) -> Entity:
    return Entity("webhook_subscription", sub_id)


def _view(sub: WebhookSubscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription (never its secret)."""
    return {
        "url": sub.url,
        "sku": sub.sku,
        "location": sub.location,
        "topics": list(subscribed_topics(sub.topics)),
        "active": sub.active,
        "cursor_seq": sub.cursor_seq,
        "attempts": sub.attempts,
        "previous_secret_until": _iso(sub.previous_secret_until),
    }


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def list_deliveries(
    session: Session, sub_id: int, success: bool | None, offset: int, limit: int
) -> tuple[Sequence[WebhookDelivery], int]:
    get_subscription(session, sub_id)
    return repo.list_deliveries(session, sub_id, success, offset, limit)


# --- durable readers of the outbox in other domains (e.g. the back-in-stock notices) --------


def outbox_reader_position(session: Session, name: str) -> int:
    """The position of the named outbox reader, locked until the caller's transaction ends
    (a second reader of the same name waits, then sees where the first stopped). A reader
    that never ran starts at the current end of the outbox. Its row is a ``feed_cursors``
    row, so retention never deletes events it has not read."""
    return repo.lock_feed_cursor(session, name, repo.max_seq(session), utcnow())


def outbox_reader_behind(session: Session, name: str) -> bool:
    """Whether the named reader has events to read (or never ran): a read, no lock, so an
    idle reader costs no write transaction."""
    position = repo.get_feed_cursor(session, name)
    return position is None or repo.max_seq(session) > position


def move_outbox_reader(session: Session, name: str, seq: int) -> None:
    """Store the named reader's new position (in the transaction that acted on the events)."""
    repo.set_feed_cursor(session, name, seq, utcnow())


def outbox_after(
    session: Session, seq: int, *, limit: int, gap_timeout: float, now: dt.datetime
) -> list[dict[str, Any]]:
    """Events after ``seq`` in order, as the feed shapes them (:func:`events.event_to_dict`),
    stopping at a hole in the sequence younger than ``gap_timeout`` seconds: PostgreSQL draws
    numbers before commit, so a hole may still fill; one older than that is a rollback and
    is skipped. The stateless form of the tailer's rule, for readers that run as tasks."""
    out: list[dict[str, Any]] = []
    expected = seq + 1
    horizon = now - dt.timedelta(seconds=gap_timeout)
    for row in repo.events_after(session, seq, limit):
        if row.seq != expected and row.created_at > horizon:
            break
        out.append(event_to_dict(row))
        expected = row.seq + 1
    return out


def outbox_reader_batch(
    session: Session, name: str, *, limit: int, gap_timeout: float, now: dt.datetime
) -> tuple[int, list[dict[str, Any]]]:
    """The named reader's position (locked, :func:`outbox_reader_position`) and the next
    ``limit`` events after it (:func:`outbox_after`): one batch of a durable reader."""
    start = outbox_reader_position(session, name)
    return start, outbox_after(session, start, limit=limit, gap_timeout=gap_timeout, now=now)


def outbox_end(session: Session) -> int:
    """The newest event's sequence number (0 when the outbox is empty)."""
    return repo.max_seq(session)
