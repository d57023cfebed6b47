"""Rules for webhook subscriptions. Functions take the caller's session and never commit."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.catalog import service as catalog
from sincro.errors import InvalidInput, NotFound
from sincro.events import topics
from sincro.feed import repository as repo
from sincro.feed.models import WebhookDelivery, WebhookSubscription
from sincro.feed.repository import Filters
from sincro.feed.schemas import WebhookIn, subscribed_topics

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A random signing secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_subscription(
    session: Session, body: WebhookIn, actor: Actor
) -> tuple[WebhookSubscription, str]:
    """Subscribe ``body.url`` from the current end of the outbox; returns it and its secret.
    Audited as ``webhook.create``."""
    if body.sku and not catalog.product_ids(session, [body.sku]):
        raise InvalidInput(f"unknown SKU {body.sku!r}", field="sku")
    if body.location and not catalog.places_by_code(session, [body.location]):
        raise InvalidInput(f"unknown location {body.location!r}", field="location")
    unknown = sorted(set(body.topics) - topics())
    if unknown:
        raise InvalidInput(f"unknown topic(s): {', '.join(unknown)}", field="topics")
    secret = new_secret()
    sub = repo.add_subscription(
        session,
        str(body.url),
        secret,
        Filters(body.sku, body.location, tuple(sorted(set(body.topics)))),
        repo.max_seq(session),
    )
    audit.record(session, actor, "webhook.create", _entity(sub.id), None, _view(sub))
    return sub, secret


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
    }


def list_deliveries(
    session: Session, sub_id: int, success: bool | None, offset: int, limit: int
) -> tuple[Sequence[WebhookDelivery], int]:
    get_subscription(session, sub_id)
    return repo.list_deliveries(session, sub_id, success, offset, limit)
