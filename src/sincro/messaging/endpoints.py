"""HTTP API of templates and campaigns (admin keys)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from sincro.catalog.schemas import Page
from sincro.deps import AdminKey, Limit, Offset, StateDep, row_id_path
from sincro.messaging import service
from sincro.messaging.schemas import (
    CampaignIn,
    CampaignOut,
    MinutePoint,
    PreviewOut,
    Retried,
    TemplateDetail,
    TemplateIn,
    TemplateOut,
    TemplatePreviewIn,
    TemplateUpdate,
)

router = APIRouter(prefix="/v1", tags=["messaging"])
TemplateId = Annotated[int, row_id_path("Template id")]
CampaignId = Annotated[int, row_id_path("Campaign id")]
Action = Literal["start", "pause", "resume", "cancel"]


@router.get("/messaging/templates", response_model=Page[TemplateOut])
def list_templates(
    state: StateDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50
) -> Page[TemplateOut]:
    with state.db.read() as session:
        rows, total = service.list_templates(session, offset, limit)
        items = [TemplateOut.model_validate(r) for r in rows]
    return Page[TemplateOut](items=items, total=total, offset=offset, limit=limit)


@router.post("/messaging/templates", response_model=TemplateDetail, status_code=201)
def create_template(
    body: TemplateIn, request: Request, state: StateDep, key: AdminKey
) -> TemplateDetail:
    """A template (version 1). Subject, HTML and text are Jinja2 in a sandbox; every variable
    must be one of the base set (``customer``, ``today``, ``campaign``, ``unsubscribe_url``) or
    declared in ``variables``; 422 ``invalid_template`` names the part (``field``) and line."""
    template = state.run_write(lambda s: service.create_template(s, body, key.actor(request)))
    with state.db.read() as session:
        return service.template_detail(session, template.id)


@router.get("/messaging/templates/{template_id}", response_model=TemplateDetail)
def get_template(
    template_id: TemplateId,
    state: StateDep,
    _key: AdminKey,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> TemplateDetail:
    """The current version's content (or ``version``'s) and every version number."""
    with state.db.read() as session:
        return service.template_detail(session, template_id, version)


@router.put("/messaging/templates/{template_id}", response_model=TemplateDetail)
def update_template(
    template_id: TemplateId, body: TemplateUpdate, request: Request, state: StateDep, key: AdminKey
) -> TemplateDetail:
    """Save a new version; campaigns already started keep the version they pinned."""
    state.run_write(lambda s: service.update_template(s, template_id, body, key.actor(request)))
    with state.db.read() as session:
        return service.template_detail(session, template_id)


@router.post("/messaging/templates/preview", response_model=PreviewOut)
def preview_template(body: TemplatePreviewIn, state: StateDep, _key: AdminKey) -> PreviewOut:
    """Render unsaved content for a sample customer (or ``customer_id``); problems are returned
    as ``ok: false`` with ``error``, ``field`` and ``line``."""
    with state.db.read() as session:
        return service.preview(session, body)


@router.get("/campaigns", response_model=Page[CampaignOut])
def list_campaigns(
    state: StateDep,
    _key: AdminKey,
    campaign_state: Annotated[
        Literal["draft", "scheduled", "running", "paused", "cancelled", "completed"] | None,
        Query(alias="state"),
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[CampaignOut]:
    with state.db.read() as session:
        rows, total = service.list_campaigns(session, offset, limit, campaign_state)
        items = [service.campaign_out(session, c) for c in rows]
    return Page[CampaignOut](items=items, total=total, offset=offset, limit=limit)


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(
    body: CampaignIn, request: Request, state: StateDep, key: AdminKey
) -> CampaignOut:
    """A draft campaign: template, audience (a customers segment; consent for its channel and
    purpose is always required), ``start_at`` (later: scheduled on start), send rate (at most
    the relay's), From and Reply-To."""
    campaign = state.run_write(
        lambda s: service.create_campaign(s, body, key.actor(request), state.settings)
    )
    with state.db.read() as session:
        return service.campaign_out(session, service.get_campaign(session, campaign.id))


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: CampaignId, state: StateDep, _key: AdminKey) -> CampaignOut:
    """State, live counts (queued, sending, sent, failed, bounced, suppressed, unsubscribed,
    in doubt) and throughput."""
    with state.db.read() as session:
        return service.campaign_out(session, service.get_campaign(session, campaign_id))


@router.get("/campaigns/{campaign_id}/minutes", response_model=list[MinutePoint])
def campaign_minutes(campaign_id: CampaignId, state: StateDep, _key: AdminKey) -> list[MinutePoint]:
    """Sent and failed per minute (UTC), for the progress chart and the results report."""
    import datetime as dt

    with state.db.read() as session:
        rows = service.per_minute(session, campaign_id)
    return [
        MinutePoint(
            minute=dt.datetime.strptime(m, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC),
            sent=s,
            failed=f,
        )
        for m, s, f in rows
    ]


@router.post("/campaigns/{campaign_id}/retry-failed", response_model=Retried)
def retry_failed(
    campaign_id: CampaignId, request: Request, state: StateDep, key: AdminKey
) -> Retried:
    """Send the failed messages again (not the bounced or suppressed ones)."""
    reset = state.run_write(lambda s: service.retry_failed(s, campaign_id, key.actor(request)))
    return Retried(reset=reset)


@router.post("/campaigns/{campaign_id}/{action}", response_model=CampaignOut)
def campaign_action(
    campaign_id: CampaignId, action: Action, request: Request, state: StateDep, key: AdminKey
) -> CampaignOut:
    """``start`` (a draft; scheduled when ``start_at`` is later), ``pause`` (workers stop
    claiming at once), ``resume`` (only what is still pending is sent), ``cancel``; 409
    ``campaign_state`` when the action does not apply to the current state."""
    state.run_write(lambda s: service.transition(s, campaign_id, action, key.actor(request)))
    with state.db.read() as session:
        return service.campaign_out(session, service.get_campaign(session, campaign_id))
