"""The console's conversation history (filters, CSV for pt-BR Excel), the intent analytics
with charts, and the suggested replies admins keep."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sincro.assistant import agents, reporting, suggestions
from sincro.assistant.classifier import INTENTS
from sincro.assistant.queue import HANDOFF_REASONS
from sincro.console.assistant import views
from sincro.console.export import csv_response, parse_form
from sincro.console.routes import ConsoleUserDep, Pager, app_state, csrf_ok, render, url
from sincro.errors import SincroError
from sincro.text_pt import parse_date_br

router = APIRouter(prefix="/console/atendimento", include_in_schema=False)

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 50_000
DEFAULT_DAYS = 30
MAX_DAYS = 366
REPLY_ERRORS = {  # the URL carries the code, never the text
    "intent": "Intenção desconhecida.",
    "title": "Título de 1 a 80 caracteres.",
    "text": "Texto de 1 a 2.000 caracteres, sem caracteres de controle.",
}
CSAT_FILTERS = {
    "": "Todas",
    "any": "Com nota",
    "none": "Pedida, sem nota",
    **{str(n): f"Nota {n}" for n in range(1, 6)},
}


def _forbidden(request: Request, section: str = "assistant") -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403, section=section)


def _day(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        try:
            return parse_date_br(value)
        except ValueError:
            return None


def _bounds(zone: ZoneInfo, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """UTC bounds of the local days [start, end]."""
    since = dt.datetime.combine(start, dt.time.min, tzinfo=zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return since, until.astimezone(dt.UTC)


def _history_filter(request: Request) -> tuple[reporting.HistoryFilter, dict[str, str], list[str]]:
    params = request.query_params
    zone = ZoneInfo(app_state(request).settings.console_time_zone)
    form = {
        k: params.get(k, "").strip()[:40]
        for k in ("intent", "reason", "csat", "state", "de", "ate")
    }
    errors = []
    intent = form["intent"] if form["intent"] in INTENTS else ""
    reason = form["reason"] if form["reason"] in HANDOFF_REASONS else ""
    csat = form["csat"] if form["csat"] in CSAT_FILTERS else ""
    state = form["state"] if form["state"] in views.STATE_LABELS else ""
    start, end = _day(form["de"]), _day(form["ate"])
    if form["de"] and start is None:
        errors.append("Data inicial inválida (use dd/mm/aaaa).")
    if form["ate"] and end is None:
        errors.append("Data final inválida (use dd/mm/aaaa).")
    since = _bounds(zone, start, start)[0] if start else None
    until = _bounds(zone, end, end)[1] if end else None
    f = reporting.HistoryFilter(
        intent or None, reason or None, csat or None, state or None, since, until
    )
    return f, form, errors


def _allowed(role: str) -> bool:
    return role in agents.AGENT_ROLES


@router.get("/historico", name="console_assistant_history")
def history_page(request: Request, user: ConsoleUserDep, page: str = "") -> Response:
    """Conversations, newest first, filtered by intent, handoff reason, CSAT, state, dates."""
    if not _allowed(user.role):
        return _forbidden(request)
    f, form, errors = _history_filter(request)
    pager = Pager.parse(page, PAGE_SIZE)
    with app_state(request).db.read() as session:
        rows, total = reporting.history(session, f, pager.offset, PAGE_SIZE)
        pager = pager.with_total(total)
        if pager.offset and not rows and total:
            rows, _ = reporting.history(session, f, pager.offset, PAGE_SIZE)
    context = {
        "rows": rows,
        "pager": pager,
        "form": form,
        "errors": errors,
        "intents": views.INTENT_LABELS,
        "reasons": views.REASON_LABELS,
        "states": views.STATE_LABELS,
        "csat_filters": CSAT_FILTERS,
        "close_reasons": agents.CLOSE_REASONS,
        "wait_label": views.wait_label,
        "export_query": {k: v for k, v in form.items() if v},
    }
    return render(request, "assistant/history.html", context, section="assistant")


@router.get("/historico.csv", name="console_assistant_history_csv")
def history_csv(request: Request, user: ConsoleUserDep, formato: str = "") -> Response:
    """The filtered history as CSV (pt-BR Excel by default; ``formato=dados`` for programs);
    no message text, so nothing personal."""
    if not _allowed(user.role):
        return _forbidden(request)
    f, _form, _errors = _history_filter(request)
    with app_state(request).db.read() as session:
        rows = reporting.history_all(session, f, EXPORT_MAX_ROWS)
    header = (
        "conversa", "canal", "situacao", "iniciada_em", "ultima_intencao",
        "motivo_transferencia", "na_fila_em", "espera_minutos", "atendente",
        "motivo_encerramento", "encerrada_em", "nota", "mensagens", "cliente_identificado",
    )  # fmt: skip
    lines = (
        (
            r.conversation.id,
            views.CHANNEL_LABELS.get(r.conversation.channel, r.conversation.channel),
            views.STATE_LABELS.get(r.conversation.state, r.conversation.state),
            r.conversation.created_at,
            views.INTENT_LABELS.get(r.last_intent or "", r.last_intent),
            views.REASON_LABELS.get(
                r.conversation.handoff_reason or "", r.conversation.handoff_reason
            ),
            r.conversation.queued_at,
            round(r.wait_seconds / 60, 1) if r.wait_seconds is not None else None,
            r.agent_name,
            agents.CLOSE_REASONS.get(
                r.conversation.close_reason or "", r.conversation.close_reason
            ),
            r.conversation.closed_at,
            r.conversation.csat,
            r.conversation.messages_count,
            r.conversation.customer_id is not None,
        )
        for r in rows
    )
    zone = ZoneInfo(app_state(request).settings.console_time_zone)
    return csv_response("atendimento-conversas", header, lines, parse_form(formato), zone)


@router.get("/analise", name="console_assistant_analytics")
def analytics_page(request: Request, user: ConsoleUserDep, de: str = "", ate: str = "") -> Response:
    """Volume per intent, bot resolution and handoff rates, handoff reasons, waiting times
    (p50/p90, per day), ratings, for the local days asked (default: the last 30)."""
    if not _allowed(user.role):
        return _forbidden(request, "assistant_analytics")
    zone = ZoneInfo(app_state(request).settings.console_time_zone)
    today = dt.datetime.now(zone).date()
    errors = []
    start, end = _day(de[:20]), _day(ate[:20])
    if (de and start is None) or (ate and end is None):
        errors.append("Data inválida (use dd/mm/aaaa).")
    end = end or today
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        errors.append("A data inicial vem depois da final.")
        start = end
    if (end - start).days >= MAX_DAYS:
        errors.append(f"No máximo {MAX_DAYS} dias: mostrando os últimos {MAX_DAYS}.")
        start = end - dt.timedelta(days=MAX_DAYS - 1)
    since, until = _bounds(zone, start, end)
    with app_state(request).db.read() as session:
        figures = reporting.analytics(session, since, until, zone)
    minutes = lambda s: round(s / 60, 1) if s is not None else None  # noqa: E731
    context = {
        "a": figures,
        "start": start,
        "end": end,
        "errors": errors,
        "intents": views.INTENT_LABELS,
        "reasons": views.REASON_LABELS,
        "wait_label": views.wait_label,
        "intent_chart": {
            "type": "bar",
            "labels": [views.INTENT_LABELS.get(i, i) for i, _ in figures.per_intent],
            "series": [{"label": "Mensagens", "data": [n for _, n in figures.per_intent]}],
        },
        "reason_chart": {
            "type": "bar",
            "labels": [views.REASON_LABELS.get(r, r) for r, _ in figures.reasons],
            "series": [{"label": "Transferências", "data": [n for _, n in figures.reasons]}],
        },
        "wait_chart": {
            "type": "line",
            "labels": [d.strftime("%d/%m") for d, _, _ in figures.waits_per_day],
            "series": [
                {
                    "label": "p50",
                    "data": [minutes(p50) for _, p50, _ in figures.waits_per_day],
                    "points": len(figures.waits_per_day) < 2,
                },
                {
                    "label": "p90",
                    "data": [minutes(p90) for _, _, p90 in figures.waits_per_day],
                    "dashed": True,
                    "points": len(figures.waits_per_day) < 2,
                },
            ],
            "y_label": "minutos na fila",
        },
    }
    return render(request, "assistant/analytics.html", context, section="assistant_analytics")


# --- suggested replies (admins) ------------------------------------------------------------


@router.get("/respostas", name="console_assistant_replies")
def replies_page(request: Request, user: ConsoleUserDep, erro: str = "") -> Response:
    """The suggested replies per intent (admins edit; the defaults apply to intents without
    their own)."""
    if user.role != "admin":
        return _forbidden(request)
    with app_state(request).db.read() as session:
        rows = suggestions.list_templates(session)
    context = {
        "rows": rows,
        "intents": views.INTENT_LABELS,
        "defaults": suggestions.DEFAULTS,
        "generic": suggestions.GENERIC,
        "error": REPLY_ERRORS.get(erro),
    }
    return render(request, "assistant/replies.html", context, section="assistant")


@router.post("/respostas", name="console_assistant_replies_add")
def replies_add(
    request: Request,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    intent: Annotated[str, Form(max_length=40)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    if user.role != "admin":
        return _forbidden(request)
    error = ""
    if csrf_ok(request, csrf):
        try:
            app_state(request).run_write(
                lambda session: suggestions.add_template(session, intent, title, text)
            )
        except SincroError as exc:
            error = exc.field if exc.field in REPLY_ERRORS else "text"
    return RedirectResponse(
        url(request, "console_assistant_replies", {"erro": error}), status_code=303
    )


@router.post("/respostas/{template_id}/apagar", name="console_assistant_replies_delete")
def replies_delete(
    request: Request,
    template_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if user.role != "admin":
        return _forbidden(request)
    if csrf_ok(request, csrf) and 1 <= template_id <= 2**31 - 1:
        with contextlib.suppress(SincroError):  # already deleted: nothing to do
            app_state(request).run_write(
                lambda session: suggestions.delete_template(session, template_id)
            )
    return RedirectResponse(url(request, "console_assistant_replies"), status_code=303)
