"""HTTP API of webhook subscriptions and their delivery log (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sincro.catalog.schemas import Page
from sincro.deps import AdminKey, Limit, Offset, StateDep, row_id_path
from sincro.feed import service
from sincro.feed.models import WebhookSubscription
from sincro.feed.schemas import DeliveryOut, WebhookCreated, WebhookIn, WebhookOut

router = APIRouter(prefix="/v1", tags=["webhooks"])
SubId = Annotated[int, row_id_path("Subscription id")]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
def create_webhook(
    body: WebhookIn, request: Request, state: StateDep, key: AdminKey
) -> WebhookCreated:
    """Subscribe a URL to availability changes from now on. The response carries the signing
    secret of ``Sincro-Signature``: it is shown this one time only.

    The URL must be https (http only where ``SINCRO_FEED_WEBHOOK_ALLOW_HTTP``), carry no
    credentials, and resolve only to public addresses unless its host is listed in
    ``SINCRO_FEED_WEBHOOK_ALLOWED_HOSTS``; otherwise 422 naming ``url``. It is checked again
    at every delivery."""
    target = service.check_url(body.url, state.settings)
    secret_key = state.settings.secret_key
    sub, secret = state.run_write(
        lambda s: service.create_subscription(s, body, target, key.actor(request), secret_key)
    )
    return _with_secret(sub, secret)


@router.post("/webhooks/{sub_id}/rotate-secret", response_model=WebhookCreated)
def rotate_webhook_secret(
    sub_id: SubId, request: Request, state: StateDep, key: AdminKey
) -> WebhookCreated:
    """Make a new signing secret, returned this one time only. Until ``previous_secret_until``
    (``SINCRO_FEED_WEBHOOK_SECRET_OVERLAP_SECONDS``, 24 h by default) deliveries carry a
    signature under each secret (``t=…,v1=<new>,v1=<old>``), then only the new one."""
    sub, secret = state.run_write(
        lambda s: service.rotate_secret(s, sub_id, key.actor(request), state.settings)
    )
    return _with_secret(sub, secret)


def _with_secret(sub: WebhookSubscription, secret: str) -> WebhookCreated:
    return WebhookCreated(**WebhookOut.model_validate(sub).model_dump(), secret=secret)


@router.get("/webhooks", response_model=Page[WebhookOut])
def list_webhooks(
    state: StateDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50
) -> Page[WebhookOut]:
    """Every subscription, with its delivery position and failure state."""
    with state.db.read() as session:
        rows, total = service.list_subscriptions(session, offset, limit)
        items = [WebhookOut.model_validate(r) for r in rows]
    return Page[WebhookOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/webhooks/{sub_id}", response_model=WebhookOut)
def get_webhook(sub_id: SubId, state: StateDep, _key: AdminKey) -> WebhookOut:
    """One subscription (never its secret)."""
    with state.db.read() as session:
        return WebhookOut.model_validate(service.get_subscription(session, sub_id))


@router.delete("/webhooks/{sub_id}", status_code=204, response_class=Response)
def delete_webhook(sub_id: SubId, request: Request, state: StateDep, key: AdminKey) -> Response:
    """Stop delivering and forget the subscription and its delivery log."""
    state.run_write(lambda s: service.delete_subscription(s, sub_id, key.actor(request)))
    return Response(status_code=204)


@router.post("/webhooks/{sub_id}/resume", response_model=WebhookOut)
def resume_webhook(sub_id: SubId, request: Request, state: StateDep, key: AdminKey) -> WebhookOut:
    """Re-activate a subscription disabled after repeated failures (or retry one now);
    delivery resumes from its cursor, so nothing is skipped."""
    sub = state.run_write(lambda s: service.resume_subscription(s, sub_id, key.actor(request)))
    return WebhookOut.model_validate(sub)


@router.get("/webhooks/{sub_id}/deliveries", response_model=Page[DeliveryOut])
def list_webhook_deliveries(
    sub_id: SubId,
    state: StateDep,
    _key: AdminKey,
    success: Annotated[bool | None, Query(description="Only successes or failures")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """The delivery log, newest first: one row per HTTP attempt."""
    with state.db.read() as session:
        rows, total = service.list_deliveries(session, sub_id, success, offset, limit)
        items = [DeliveryOut.model_validate(r) for r in rows]
    return Page[DeliveryOut](items=items, total=total, offset=offset, limit=limit)
