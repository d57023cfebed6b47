"""Console pages of messaging ("Mensagens"): templates (list, editor with a live preview drawn
by ``messaging.js`` from :func:`preview`), campaigns (create, start, pause, resume, cancel,
retry the failed, live progress with a chart of sent/failed per minute) and each campaign's
results as CSV. Admins and the ``marketing`` role see them; personal data (addresses) is never
shown here, only counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from sincro.audit import Actor
from sincro.automation.kinds import KIND_LABELS_PT
from sincro.console.export import csv_response
from sincro.console.routes import (
    ConsoleUserDep,
    SessionUser,
    app_state,
    csrf_ok,
    not_found,
    render,
    url,
)
from sincro.customers.schemas import Segment
from sincro.errors import SincroError
from sincro.messaging import service
from sincro.messaging.exceptions import CampaignStateConflict
from sincro.messaging.schemas import CampaignIn, TemplateIn, TemplatePreviewIn, TemplateUpdate
from sincro.text_pt import datetime_br

router = APIRouter(prefix="/console/mensagens", include_in_schema=False)
ROLES = ("admin", "marketing")
POLL_INTERVAL_MS = 2000
STATES = {
    "draft": ("rascunho", "muted"),
    "scheduled": ("agendada", "info"),
    "running": ("enviando", "info"),
    "paused": ("pausada", "warn"),
    "cancelled": ("cancelada", "bad"),
    "completed": ("concluída", "ok"),
}
ACTIONS = {
    "start": "Iniciar",
    "pause": "Pausar",
    "resume": "Retomar",
    "cancel": "Cancelar",
}
PURPOSES = {"marketing": "Ofertas", "billing": "Cobrança", "service": "Serviço"}


def _allowed(user: SessionUser) -> bool:
    return user.role in ROLES


def _forbidden(request: Request) -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403)


def _actor(user: SessionUser, request: Request) -> Actor:
    return Actor.user(user.id, user.name).seen_at(request)


@router.get("", name="console_messaging")
def index(request: Request, user: ConsoleUserDep, notice: str = "") -> Response:
    if not _allowed(user):
        return _forbidden(request)
    state = app_state(request)
    with state.db.read() as session:
        templates, _ = service.list_templates(session, 0, 200)
        campaigns, _ = service.list_campaigns(session, 0, 50)
        rows = [service.campaign_out(session, c) for c in campaigns]
    return render(
        request,
        "messaging/index.html",
        {
            "templates": templates,
            "campaigns": rows,
            "states": STATES,
            "purposes": PURPOSES,
            "interest_kinds": KIND_LABELS_PT,
            "notice": notice,
            "rate": state.settings.messaging_rate_per_second,
        },
        section="messaging",
    )


@router.get("/modelos/novo", name="console_template_new")
def template_new(request: Request, user: ConsoleUserDep) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    empty = {
        "key": "",
        "name": "",
        "purpose": "marketing",
        "variables": [],
        "subject": "",
        "html": "<p>Olá {{ customer.first_name }},</p>\n",
        "text": "Olá {{ customer.first_name }},\n",
    }
    return _editor(request, None, empty)


@router.get("/modelos/{template_id}", name="console_template")
def template_page(request: Request, user: ConsoleUserDep, template_id: int) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    with app_state(request).db.read() as session:
        try:
            detail = service.template_detail(session, template_id)
        except SincroError:
            return not_found(request, "Modelo não encontrado", f"Não há modelo {template_id}.")
    return _editor(request, template_id, detail.model_dump())


def _editor(
    request: Request,
    template_id: int | None,
    values: dict[str, Any],
    error: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "messaging/template.html",
        {
            "template_id": template_id,
            "values": values,
            "error": error,
            "purposes": PURPOSES,
            "preview_url": url(request, "console_template_preview"),
        },
        section="messaging",
        status_code=status_code,
    )


@router.post("/modelos", name="console_template_save")
def template_save(
    request: Request,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    template_id: Annotated[int | None, Form()] = None,
    key: Annotated[str, Form(max_length=80)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    purpose: Annotated[str, Form(max_length=12)] = "marketing",
    variables: Annotated[str, Form(max_length=1000)] = "",
    subject: Annotated[str, Form(max_length=1000)] = "",
    html: Annotated[str, Form(max_length=60_000)] = "",
    text: Annotated[str, Form(max_length=60_000)] = "",
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    values = {
        "key": key,
        "name": name,
        "purpose": purpose,
        "subject": subject,
        "html": html,
        "text": text,
        "variables": [v.strip() for v in variables.split(",") if v.strip()],
    }
    if not csrf_ok(request, csrf):
        return _editor(request, template_id, values, "Sessão expirada: envie de novo.", 400)
    state = app_state(request)
    actor = _actor(user, request)
    try:
        if template_id is None:
            body = TemplateIn.model_validate(values)
            saved = state.run_write(lambda s: service.create_template(s, body, actor))
        else:
            update = TemplateUpdate.model_validate(
                {"name": name or None, "subject": subject, "html": html, "text": text}
            )
            saved = state.run_write(
                lambda s: service.update_template(s, template_id, update, actor)
            )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _editor(request, template_id, values, f"{where}: {first['msg']}", 422)
    except SincroError as exc:
        return _editor(request, template_id, values, exc.message, exc.status_code)
    return RedirectResponse(
        url(request, "console_template", template_id=saved.id) + "?salvo=1", status_code=303
    )


@router.post("/modelos/previa", name="console_template_preview")
async def template_preview(request: Request, user: ConsoleUserDep) -> Response:
    """The editor's live preview (JSON in, JSON out; the CSRF token in ``X-CSRF-Token``)."""
    if not _allowed(user):
        return JSONResponse({"ok": False, "error": "sem permissão"}, status_code=403)
    if not csrf_ok(request, request.headers.get("x-csrf-token", "")):
        return JSONResponse({"ok": False, "error": "sessão expirada"}, status_code=400)
    try:
        body = TemplatePreviewIn.model_validate(json.loads(await request.body() or b"{}"))
    except (ValidationError, ValueError) as exc:
        return JSONResponse(
            {"ok": False, "error": f"pedido inválido: {exc}"[:300]}, status_code=422
        )
    from starlette.concurrency import run_in_threadpool

    def run() -> dict[str, Any]:
        with app_state(request).db.read() as session:
            return service.preview(session, body).model_dump()

    return JSONResponse(await run_in_threadpool(run))


@router.post("/campanhas", name="console_campaign_create")
def campaign_create(
    request: Request,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    template_id: Annotated[int, Form()] = 0,
    states: Annotated[str, Form(max_length=200)] = "",
    plans: Annotated[str, Form(max_length=1000)] = "",
    rate: Annotated[float | None, Form()] = None,
    interest_kind: Annotated[str, Form(max_length=40)] = "",
    interest_ref: Annotated[str, Form(max_length=60)] = "",
    interest_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    if not csrf_ok(request, csrf):
        return RedirectResponse(
            url(request, "console_messaging", {"notice": "Sessão expirada"}), 303
        )
    state = app_state(request)
    actor = _actor(user, request)
    try:
        with state.db.read() as session:
            purpose = service.get_template(session, template_id).purpose
        audience = Segment.model_validate(
            {
                "purpose": purpose,
                "states": [s.strip() for s in states.split(",") if s.strip()],
                "plans": [p.strip() for p in plans.split(",") if p.strip()],
                "interest": _interest(interest_kind, interest_ref, interest_days),
            }
        )
        body = CampaignIn(
            name=name, template_id=template_id, audience=audience, rate_per_second=rate
        )
        campaign = state.run_write(
            lambda s: service.create_campaign(s, body, actor, state.settings)
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        notice = f"Campanha não criada: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return RedirectResponse(url(request, "console_messaging", {"notice": notice}), 303)
    except SincroError as exc:
        return RedirectResponse(
            url(request, "console_messaging", {"notice": f"Campanha não criada: {exc.message}"}),
            303,
        )
    return RedirectResponse(url(request, "console_campaign", campaign_id=campaign.id), 303)


def _interest(kind: str, ref: str, days: str) -> dict[str, Any] | None:
    """The chat-interest criterion of the campaign form (automation's interests), if chosen."""
    if not kind.strip():
        return None
    return {
        "kind": kind.strip(),
        "ref": ref.strip() or None,
        "within_days": days.strip() or "30",
    }


def _campaign_data(request: Request, campaign_id: int) -> dict[str, Any] | None:
    state = app_state(request)
    zone = state.settings.console_time_zone
    with state.db.read() as session:
        try:
            campaign = service.get_campaign(session, campaign_id)
        except SincroError:
            return None
        out = service.campaign_out(session, campaign)
        minutes = service.per_minute(session, campaign_id)
    labels = [
        datetime_br(dt.datetime.strptime(m, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC), zone)[11:]
        for m, _, _ in minutes
    ]
    return {
        "campaign": out.model_dump(mode="json"),
        "state_label": STATES.get(out.state, (out.state, "muted")),
        "chart": {
            "type": "bar",
            "labels": labels,
            "series": [
                {"label": "Enviadas", "data": [s for _, s, _ in minutes]},
                {"label": "Falhas", "data": [f for _, _, f in minutes], "color": "#dc2626"},
            ],
            "y_label": "mensagens por minuto",
        },
        "throughput_hour": out.throughput_per_hour_overall,
    }


@router.get("/campanhas/{campaign_id}", name="console_campaign")
def campaign_page(
    request: Request, user: ConsoleUserDep, campaign_id: int, notice: str = ""
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    data = _campaign_data(request, campaign_id)
    if data is None:
        return not_found(request, "Campanha não encontrada", f"Não há campanha {campaign_id}.")
    return render(
        request,
        "messaging/campaign.html",
        {
            **data,
            "minutes_chart": data["chart"],
            "actions": ACTIONS,
            "notice": notice,
            "poll_ms": POLL_INTERVAL_MS,
        },
        section="messaging",
    )


@router.get("/campanhas/{campaign_id}/dados", name="console_campaign_data")
def campaign_data(request: Request, user: ConsoleUserDep, campaign_id: int) -> Response:
    if not _allowed(user):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    data = _campaign_data(request, campaign_id)
    if data is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.post("/campanhas/{campaign_id}/acao", name="console_campaign_action")
def campaign_action(
    request: Request,
    user: ConsoleUserDep,
    campaign_id: int,
    csrf: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    if not csrf_ok(request, csrf):
        expired = {"notice": "Sessão expirada"}
        return RedirectResponse(
            url(request, "console_campaign", expired, campaign_id=campaign_id), 303
        )
    state = app_state(request)
    actor = _actor(user, request)
    try:
        if action == "retry":
            reset = state.run_write(lambda s: service.retry_failed(s, campaign_id, actor))
            notice = f"{reset} mensagens com falha voltaram para a fila"
        elif action in ACTIONS:
            state.run_write(lambda s: service.transition(s, campaign_id, action, actor))
            notice = f"{ACTIONS[action]}: feito"
        else:
            notice = "Ação desconhecida"
    except CampaignStateConflict:
        with state.db.read() as session:
            current = service.get_campaign(session, campaign_id).state
        label = STATES.get(current, (current, ""))[0]
        verb = ACTIONS.get(action, "Reenviar falhas").lower()
        notice = f"Não é possível {verb}: a campanha está {label}"
    except SincroError as exc:
        notice = exc.message
    return RedirectResponse(
        url(request, "console_campaign", {"notice": notice}, campaign_id=campaign_id), 303
    )


@router.get("/campanhas/{campaign_id}/resultado.csv", name="console_campaign_csv")
def campaign_csv(
    request: Request, user: ConsoleUserDep, campaign_id: int, form: str = "excel"
) -> Response:
    """The campaign's results per minute (sent, failed) with the totals in the file name's
    campaign; pt-BR Excel form unless ``form=plain``."""
    if not _allowed(user):
        return _forbidden(request)
    with app_state(request).db.read() as session:
        try:
            service.get_campaign(session, campaign_id)
        except SincroError:
            return not_found(request, "Campanha não encontrada", f"Não há campanha {campaign_id}.")
        minutes = service.per_minute(session, campaign_id)
    rows = [
        (dt.datetime.strptime(m, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC), sent, failed)
        for m, sent, failed in minutes
    ]
    return csv_response(
        f"campanha-{campaign_id}-resultado",
        ["minuto", "enviadas", "falhas"],
        rows,
        form="plain" if form == "plain" else "excel",
    )
