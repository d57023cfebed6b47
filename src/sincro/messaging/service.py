"""Messaging's one door: templates, campaigns and their state machine, the orchestrator's
materialisation, transactional messages (:func:`send_transactional`), unsubscribes, bounces
and the customer's data (privacy export and erasure).

Services take the caller's session and never commit; batches are handed to the ``email``
queue only after the transaction that wrote their ledger rows commits (``db.on_commit``)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sincro import audit
from sincro.config import Settings, get_settings
from sincro.customers import service as customers
from sincro.customers.schemas import PURPOSES, AudienceMember, Segment
from sincro.db import on_commit, utcnow
from sincro.messaging import repository as repo, templates as tpl
from sincro.messaging.exceptions import (
    CampaignNotFound,
    CampaignStateConflict,
    InvalidTemplate,
    TemplateKeyTaken,
    TemplateNotFound,
)
from sincro.messaging.models import Campaign, LedgerEntry, MessageTemplate, TemplateVersion
from sincro.messaging.schemas import (
    Attachment,
    CampaignCounts,
    CampaignIn,
    CampaignOut,
    PreviewOut,
    TemplateDetail,
    TemplateIn,
    TemplateOut,
    TemplatePreviewIn,
    TemplateUpdate,
)

log = logging.getLogger("sincro.messaging")
TRANSACTIONAL = "transactional"
RUNNING = ("running",)  # states whose rows workers claim
AUDIENCE_PAGE = 1000


# --- templates ------------------------------------------------------------------------------


def allowed_variables(variables: Sequence[str]) -> frozenset[str]:
    return tpl.BASE_VARIABLES | frozenset(variables)


def sample_context(
    variables: Sequence[str], customer: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What validation and preview render with: a sample customer and a stand-in for every
    declared variable."""
    context: dict[str, Any] = {
        "customer": dict(customer or tpl.SAMPLE_CUSTOMER),
        "today": dt.date.today(),
        "campaign": {"name": "Campanha de exemplo"},
        "unsubscribe_url": "https://exemplo.com.br/u/exemplo",
        "time_zone": "America/Sao_Paulo",
    }
    for name in variables:
        context[name] = tpl.sample_value(name)
    return context


def _check(parts: Mapping[str, str], variables: Sequence[str]) -> None:
    try:
        tpl.check(parts, allowed_variables(variables), sample_context(variables))
    except tpl.TemplateProblem as exc:
        details = [{"field": exc.part, "line": exc.line, "message": exc.reason}]
        raise InvalidTemplate(str(exc), field=exc.part, details=details) from None


def _parts(body: Any) -> dict[str, str]:
    return {"subject": body.subject, "html": body.html, "text": body.text}


def create_template(
    session: Session, body: TemplateIn, actor: audit.Actor, *, system: bool = False
) -> MessageTemplate:
    """A new template (version 1), validated; 409 when the key exists."""
    _check(_parts(body), body.variables)
    if repo.template_by_key(session, body.key) is not None:
        raise TemplateKeyTaken(f"a template with key {body.key!r} exists", field="key")
    template = MessageTemplate(
        key=body.key,
        name=body.name,
        purpose=body.purpose,
        variables=list(body.variables),
        system=system,
        current_version=1,
    )
    session.add(template)
    session.flush()
    session.add(
        TemplateVersion(template_id=template.id, version=1, created_by=actor.label, **_parts(body))
    )
    audit.record(
        session,
        actor,
        "template.create",
        audit.Entity("message_template", template.id),
        after={"key": body.key, "version": 1},
    )
    session.flush()
    return template


def update_template(
    session: Session, template_id: int, body: TemplateUpdate, actor: audit.Actor
) -> MessageTemplate:
    """Save a new version (earlier ones are kept: campaigns pinned them)."""
    template = get_template(session, template_id)
    _check(_parts(body), template.variables)
    template.current_version += 1
    template.updated_at = utcnow()
    if body.name:
        template.name = body.name
    session.add(
        TemplateVersion(
            template_id=template.id,
            version=template.current_version,
            created_by=actor.label,
            **_parts(body),
        )
    )
    audit.record(
        session,
        actor,
        "template.update",
        audit.Entity("message_template", template.id),
        after={"version": template.current_version},
    )
    session.flush()
    return template


def ensure_template(
    session: Session,
    *,
    key: str,
    name: str,
    purpose: str,
    subject: str,
    html: str,
    text: str,
    variables: Sequence[str] = (),
) -> MessageTemplate:
    """A system template by ``key``, created with this default content when absent (an
    operator's later edits are kept). For other domains' transactional kinds (invoices,
    dunning, back-in-stock); content is validated like any other template."""
    existing = repo.template_by_key(session, key)
    if existing is not None:
        return existing
    body = TemplateIn(
        key=key,
        name=name,
        purpose=purpose,
        variables=list(variables),
        subject=subject,
        html=html,
        text=text,
    )
    try:
        with session.begin_nested():
            return create_template(session, body, audit.Actor.system("messaging"), system=True)
    except TemplateKeyTaken:
        found = repo.template_by_key(session, key)
        assert found is not None
        return found
    except IntegrityError:  # another process created it concurrently
        found = repo.template_by_key(session, key)
        if found is None:
            raise
        return found


def get_template(session: Session, template_id: int) -> MessageTemplate:
    template = repo.template(session, template_id)
    if template is None:
        raise TemplateNotFound(f"template {template_id} not found")
    return template


def template_detail(
    session: Session, template_id: int, version: int | None = None
) -> TemplateDetail:
    template = get_template(session, template_id)
    number = version or template.current_version
    content = repo.version(session, template.id, number)
    if content is None:
        raise TemplateNotFound(f"template {template_id} has no version {number}")
    return TemplateDetail(
        **TemplateOut.model_validate(template).model_dump(),
        subject=content.subject,
        html=content.html,
        text=content.text,
        versions=repo.version_numbers(session, template.id),
    )


def list_templates(session: Session, offset: int, limit: int) -> tuple[list[MessageTemplate], int]:
    return repo.templates(session, offset, limit)


def _customer_sample(
    session: Session, customer_id: int | None, purpose: str
) -> tuple[dict[str, Any], str]:
    if customer_id is not None:
        members = customers.audience_page(
            session,
            Segment(customer_ids=[customer_id], purpose=purpose),
            today=dt.date.today(),
            grace_days=get_settings().customers_defaulter_days,
            limit=1,
        )
        if members:
            m = members[0]
            return tpl.customer_context(
                name=m.name, city=m.city, state=m.state, plan=m.plan
            ), m.time_zone
    return dict(tpl.SAMPLE_CUSTOMER), "America/Sao_Paulo"


def preview(session: Session, body: TemplatePreviewIn) -> PreviewOut:
    """Validate and render unsaved content for a sample customer (a real one, when given and
    reachable for the purpose); problems come back as data, for the editor to show."""
    parts = _parts(body)
    customer, zone = _customer_sample(session, body.customer_id, body.purpose)
    context = sample_context(body.variables, customer) | {"time_zone": zone}
    try:
        tpl.check(parts, allowed_variables(body.variables), context)
        rendered = tpl.render(parts, context)
    except tpl.TemplateProblem as exc:
        return PreviewOut(ok=False, error=str(exc), field=exc.part, line=exc.line)
    return PreviewOut(ok=True, subject=rendered.subject, html=rendered.html, text=rendered.text)


# --- campaigns ------------------------------------------------------------------------------


def default_sender(settings: Settings) -> str:
    return settings.messaging_from or settings.alert_from


def create_campaign(
    session: Session, body: CampaignIn, actor: audit.Actor, settings: Settings
) -> Campaign:
    template = get_template(session, body.template_id)
    if template.purpose != body.audience.purpose:
        raise InvalidTemplate(
            f"the template is for {template.purpose!r} messages, the audience for "
            f"{body.audience.purpose!r}",
            field="audience.purpose",
        )
    rate = body.rate_per_second or settings.messaging_rate_per_second
    if rate > settings.messaging_rate_per_second:
        raise InvalidTemplate(
            f"rate_per_second may not exceed the relay's {settings.messaging_rate_per_second}/s",
            field="rate_per_second",
        )
    campaign = Campaign(
        kind="campaign",
        name=body.name,
        template_id=template.id,
        purpose=body.audience.purpose,
        segment=body.audience.model_dump(mode="json"),
        state="draft",
        start_at=body.start_at,
        rate_per_second=rate,
        sender=body.sender or default_sender(settings),
        reply_to=body.reply_to,
        audience_total=0,
        materialized_after=0,
        materialized=False,
        created_by=actor.label,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor,
        "campaign.create",
        audit.Entity("campaign", campaign.id),
        after={"template": template.key, "state": "draft"},
    )
    return campaign


def get_campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    campaign = repo.campaign(session, campaign_id, lock=lock)
    if campaign is None or campaign.kind != "campaign":
        raise CampaignNotFound(f"campaign {campaign_id} not found")
    return campaign


TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft",), "running"),
    "pause": (("running", "scheduled"), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("draft", "scheduled", "running", "paused"), "cancelled"),
}


def transition(
    session: Session,
    campaign_id: int,
    action: str,
    actor: audit.Actor,
    now: dt.datetime | None = None,
) -> Campaign:
    """start | pause | resume | cancel; 409 naming the state when the action does not apply."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_id, lock=True)
    allowed, target = TRANSITIONS[action]
    if campaign.state not in allowed:
        raise CampaignStateConflict(
            f"cannot {action} a campaign that is {campaign.state} (allowed from: "
            f"{', '.join(allowed)})",
            field="state",
        )
    before = campaign.state
    if action == "start":
        template = get_template(session, campaign.template_id or 0)
        content = repo.version(session, template.id, template.current_version)
        assert content is not None
        campaign.template_version_id = content.id  # pinned: later edits do not change it
        if campaign.start_at is not None and campaign.start_at > now:
            target = "scheduled"
        else:
            campaign.started_at = now
    if action == "resume" and campaign.started_at is None:
        target = "scheduled" if campaign.start_at and campaign.start_at > now else "running"
        if target == "running":
            campaign.started_at = now
    campaign.state = target
    if action == "cancel":
        repo.set_status(session, campaign.id, ("pending",), status="cancelled")
        campaign.finished_at = now
    audit.record(
        session,
        actor,
        f"campaign.{action}",
        audit.Entity("campaign", campaign.id),
        before={"state": before},
        after={"state": target},
    )
    if target == "running":
        campaign_id_ = campaign.id
        on_commit(session, lambda: dispatch_orchestrate(campaign_id_))
    session.flush()
    return campaign


def retry_failed(session: Session, campaign_id: int, actor: audit.Actor) -> int:
    """Put the failed rows (not the bounced or suppressed ones) back to pending, once more
    with a fresh attempt count; a completed campaign runs again."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.state in ("draft", "cancelled", "scheduled"):
        raise CampaignStateConflict(
            f"cannot retry the failed messages of a campaign that is {campaign.state}",
            field="state",
        )
    reset = repo.set_status(
        session,
        campaign.id,
        ("failed",),
        status="pending",
        attempts=0,
        next_attempt_at=None,
        enqueued_at=None,
        claimed_by=None,
    )
    if reset and campaign.state == "completed":
        campaign.state, campaign.finished_at = "running", None
    audit.record(
        session,
        actor,
        "campaign.retry_failed",
        audit.Entity("campaign", campaign.id),
        after={"reset": reset},
    )
    if reset and campaign.state == "running":
        campaign_id_ = campaign.id
        on_commit(session, lambda: dispatch_orchestrate(campaign_id_))
    return reset


def list_campaigns(
    session: Session, offset: int, limit: int, state: str | None = None
) -> tuple[list[Campaign], int]:
    return repo.campaigns(session, offset, limit, state)


def counts(session: Session, campaign_id: int) -> CampaignCounts:
    by_status = repo.status_counts(session, campaign_id)
    unsubscribed, in_doubt = repo.flag_counts(session, campaign_id)
    return CampaignCounts(
        queued=by_status.get("pending", 0),
        sending=by_status.get("sending", 0),
        sent=by_status.get("sent", 0) + by_status.get("bounced", 0),
        failed=by_status.get("failed", 0),
        bounced=by_status.get("bounced", 0),
        suppressed=by_status.get("suppressed", 0),
        unsubscribed=unsubscribed,
        cancelled=by_status.get("cancelled", 0),
        in_doubt=in_doubt,
    )


def campaign_out(
    session: Session, campaign: Campaign, now: dt.datetime | None = None
) -> CampaignOut:
    now = now or utcnow()
    numbers = counts(session, campaign.id)
    last_minute = repo.sent_since(session, campaign.id, now - dt.timedelta(seconds=60))
    first, last = repo.first_last_sent(session, campaign.id)
    overall = 0.0
    if first is not None and last is not None and numbers.sent:
        seconds = max((last - first).total_seconds(), 1.0)
        overall = numbers.sent / seconds * 3600
    version = (
        repo.version_by_id(session, campaign.template_version_id)
        if campaign.template_version_id
        else None
    )
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        kind=campaign.kind,
        state=campaign.state,
        purpose=campaign.purpose,
        template_id=campaign.template_id,
        template_version=version.version if version else None,
        audience=campaign.segment,
        audience_total=campaign.audience_total,
        materialized=campaign.materialized,
        start_at=campaign.start_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        rate_per_second=campaign.rate_per_second,
        sender=campaign.sender,
        reply_to=campaign.reply_to,
        counts=numbers,
        throughput_per_minute=float(last_minute),
        throughput_per_hour_overall=round(overall, 1),
    )


def per_minute(session: Session, campaign_id: int) -> list[tuple[str, int, int]]:
    get_campaign(session, campaign_id)
    return repo.per_minute(session, campaign_id)


# --- the orchestrator -----------------------------------------------------------------------


def _dispatch_batch(campaign_id: int, ids: list[int]) -> None:
    from sincro.messaging.tasks import send_batch

    cast(Any, send_batch).delay(campaign_id, ids, time.time())


def _dispatch_orchestrate(campaign_id: int) -> None:
    from sincro.messaging.tasks import orchestrate

    cast(Any, orchestrate).delay(campaign_id)


# Replaceable (tests run batches in-process; the benchmark counts them).
dispatcher: dict[str, Callable[..., None]] = {
    "batch": _dispatch_batch,
    "orchestrate": _dispatch_orchestrate,
}


TAPER_BATCHES = 8  # the audience's last this-many batches are sent as claim-sized ones


def dispatch_batches(
    campaign_id: int,
    ids: Sequence[int],
    size: int | None = None,
    *,
    taper: int = 0,
    small: int = 20,
) -> None:
    """Hand ``ids`` to the ``email`` queue in batches of ``size``; the last ``taper`` ids go in
    batches of ``small`` (the claim size), so that the workers finish together
    instead of one worker sending a whole batch alone at the end."""
    size = size or get_settings().messaging_batch_size
    ids = list(ids)
    cut = max(0, len(ids) - taper)
    for start in range(0, cut, size):
        dispatcher["batch"](campaign_id, ids[start : min(cut, start + size)])
    small = max(1, min(size, small))
    for start in range(cut, len(ids), small):
        dispatcher["batch"](campaign_id, ids[start : start + small])


def dispatch_orchestrate(campaign_id: int) -> None:
    dispatcher["orchestrate"](campaign_id)


def _ledger_row(campaign: Campaign, m: AudienceMember, now: dt.datetime) -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "dedupe_key": f"c{m.customer_id}",
        "customer_id": m.customer_id,
        "template_version_id": campaign.template_version_id,
        "purpose": campaign.purpose,
        "kind": "campaign",
        "email": m.email,
        "name": m.name,
        "city": m.city,
        "state": m.state,
        "plan": m.plan,
        "time_zone": m.time_zone,
        "status": "pending",
        "attempts": 0,
        "in_doubt": False,
        "enqueued_at": now,
        "created_at": now,
    }


def materialize_page(
    session: Session, campaign_id: int, settings: Settings
) -> tuple[list[int], bool]:
    """Write one page of the audience into the ledger: (new row ids to enqueue after commit,
    whether there is more to do). Stops (nothing, False) when the campaign is not running."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.state != "running" or campaign.materialized:
        return [], False
    members = customers.audience_page(
        session,
        Segment.model_validate(campaign.segment),
        today=dt.date.today(),
        grace_days=settings.customers_defaulter_days,
        after_id=campaign.materialized_after,
        limit=AUDIENCE_PAGE + 1,  # one more: whether this page is the last one
    )
    last = len(members) <= AUDIENCE_PAGE
    members = members[:AUDIENCE_PAGE]
    now = utcnow()
    ids = repo.add_entries(session, [_ledger_row(campaign, m, now) for m in members])
    campaign.audience_total += len(ids)
    if members:
        campaign.materialized_after = members[-1].customer_id
    if last:
        # known with this page, even a full one: its rows go out as the audience's end
        # (claim-sized batches, orchestrator.orchestrate), not behind an empty last page
        campaign.materialized = True
    return ids, not campaign.materialized


def pending_page(session: Session, campaign_id: int, after_id: int, limit: int = 5000) -> list[int]:
    now = utcnow()
    ids = repo.pending_ids(session, campaign_id, after_id, limit)
    repo.mark_enqueued(session, ids, now)
    return ids


def campaign_state(session: Session, campaign_id: int) -> str | None:
    campaign = repo.campaign(session, campaign_id)
    return campaign.state if campaign else None


# --- transactional --------------------------------------------------------------------------


def transactional_campaign(session: Session, settings: Settings) -> Campaign:
    """The one pseudo-campaign transactional messages are ledgered under (always running)."""
    found = repo.transactional_campaign(session)
    if found is not None:
        return found
    campaign = Campaign(
        kind=TRANSACTIONAL,
        name="Mensagens transacionais",
        purpose="billing",
        segment={},
        state="running",
        rate_per_second=settings.messaging_rate_per_second,
        sender=default_sender(settings),
        audience_total=0,
        materialized_after=0,
        materialized=True,
        created_by="system",
        started_at=utcnow(),
    )
    session.add(campaign)
    session.flush()
    return campaign


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"context value of type {type(value).__name__} cannot be kept")


def send_transactional(
    session: Session,
    *,
    customer_id: int,
    purpose: str,
    kind: str,
    dedupe_key: str,
    template_key: str,
    context: Mapping[str, Any],
    attachments: Sequence[Attachment] = (),
) -> bool:
    """Ledger one transactional message (an invoice, a reminder, a back-in-stock notice) for
    the e-mail workers; it is handed to the ``email`` queue when the caller's transaction
    commits. One message per ``dedupe_key`` ever: False when the key was already used (nothing
    is done). Consent for e-mail + ``purpose`` and the suppression list are honoured: a
    customer without them gets a row in ``suppressed`` (visible in their history, never sent),
    and True is still returned (the notice was handled).

    ``context`` holds the template's declared variables (JSON-able: str, numbers, Decimal,
    date/datetime, lists, dicts); ``template_key`` names a template (see
    :func:`ensure_template`)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    settings = get_settings()
    template = repo.template_by_key(session, template_key)
    if template is None:
        raise TemplateNotFound(f"no template with key {template_key!r}")
    content = repo.version(session, template.id, template.current_version)
    assert content is not None
    campaign = transactional_campaign(session, settings)
    key = f"{kind}:{dedupe_key}"[:200]
    if repo.entry_by_dedupe(session, campaign.id, key) is not None:
        return False
    members = customers.audience_page(
        session,
        Segment(customer_ids=[customer_id], purpose=purpose),
        today=dt.date.today(),
        grace_days=settings.customers_defaulter_days,
        limit=1,
    )
    now = utcnow()
    row: dict[str, Any] = {
        "campaign_id": campaign.id,
        "dedupe_key": key,
        "customer_id": customer_id,
        "template_version_id": content.id,
        "purpose": purpose,
        "kind": kind[:40],
        "context": _jsonable(dict(context)),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content": base64.b64encode(a.content).decode(),
            }
            for a in attachments
        ]
        or None,
        "attempts": 0,
        "in_doubt": False,
        "created_at": now,
    }
    if members:
        m = members[0]
        row |= {
            "email": m.email,
            "name": m.name,
            "city": m.city,
            "state": m.state,
            "plan": m.plan,
            "time_zone": m.time_zone,
            "status": "pending",
            "enqueued_at": now,
        }
    else:
        row |= {
            "email": "",
            "name": "",
            "city": None,
            "state": None,
            "plan": None,
            "time_zone": "America/Sao_Paulo",
            "status": "suppressed",
            "last_error": f"no consent for e-mail/{purpose}, address suppressed, or no address",
        }
    ids = repo.add_entries(session, [row])
    if not ids:
        return False
    if members:
        campaign_id = campaign.id
        on_commit(session, lambda: dispatch_batches(campaign_id, ids))
    return True


def quiet_until(time_zone: str, settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """When marketing mail may reach someone in ``time_zone`` again, if ``now`` is inside the
    quiet hours there (None: it may go now). For domains that decide to send (automation)."""
    from sincro.messaging.sender import in_quiet_hours

    return in_quiet_hours(time_zone, settings, now)


# --- unsubscribes and bounces ---------------------------------------------------------------


def unsubscribe(
    session: Session, customer_id: int, campaign_id: int, purpose: str, evidence: str
) -> None:
    """Withdraw consent to e-mail for ``purpose`` only (billing continues), with the message
    as evidence, and count it on the campaign."""
    customers.record_consent(
        session,
        customer_id,
        channel="email",
        purpose=purpose,
        granted=False,
        source="unsubscribe",
        evidence=evidence,
    )
    repo.mark_unsubscribed(session, campaign_id, customer_id, utcnow())


def record_bounce(session: Session, entry_id: int, detail: str, *, hard: bool) -> bool:
    """A bounce matched to a ledger row: hard ones mark it bounced and suppress the address
    for every purpose. Returns whether a row was changed."""
    if not hard:
        return False
    row = repo.mark_bounced(session, entry_id, utcnow(), detail)
    if row is None:
        return False
    if row.email:
        customers.suppress(
            session, row.email, reason="hard_bounce", purpose="*", detail=detail[:200]
        )
    return True


# --- privacy --------------------------------------------------------------------------------


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """The messages a customer was sent (or that were withheld), for an LGPD export."""
    return {
        "messages": [
            {
                "campaign_id": e.campaign_id,
                "kind": e.kind,
                "purpose": e.purpose,
                "status": e.status,
                "email": e.email,
                "message_id": e.message_id,
                "sent_at": e.sent_at.isoformat() if e.sent_at else None,
                "unsubscribed_at": e.unsubscribed_at.isoformat() if e.unsubscribed_at else None,
            }
            for e in repo.entries_of_customer(session, customer_id)
        ]
    }


def erase_customer(session: Session, customer_id: int) -> dict[str, int]:
    """Blank the customer's address, name and message contents in the ledger; rows (and so
    every campaign's counts) stay."""
    return {"send_ledger": repo.anonymize_customer(session, customer_id)}


def customer_messages(session: Session, customer_id: int) -> list[LedgerEntry]:
    """A customer's messages, oldest first (the customer page's history)."""
    return repo.entries_of_customer(session, customer_id)


def context_json(value: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(dict(value)), ensure_ascii=False)


def campaign_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the campaigns with those ids, by id."""
    return repo.campaign_names(session, {i for i in ids if i is not None})


def transactional_status(
    session: Session, customer_id: int, kind: str, dedupe_key: str
) -> str | None:
    """The send ledger's status of one transactional message (``kind``, ``dedupe_key`` as
    given to :func:`send_transactional`), if any: ``pending``, ``sent``, ``suppressed``…"""
    return repo.ledger_status(session, customer_id, f"{kind}:{dedupe_key}"[:200])
