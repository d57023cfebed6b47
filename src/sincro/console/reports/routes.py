"""Console pages of the reports ("Relatórios"): new customers (stacked bars per region over
time), defaulters (amount per aging bucket, per UF as bars and as a table), billing (invoiced
vs received, open receivables), campaign results (from messaging, when installed) and the
report e-mail schedules. Every page has a CSV download in the pt-BR Excel form (``?formato=
dados`` for the machine form). Charts are Chart.js from the package (``charts.js``).

Who sees what: admin everything; ``billing`` new customers, defaulters, billing;
``marketing`` new customers and campaign results. Aggregates only: no personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from sincro.audit import Actor
from sincro.console.export import csv_response, parse_form
from sincro.console.routes import (
    ConsoleUserDep,
    SessionUser,
    app_state,
    csrf_ok,
    render,
    url,
)
from sincro.customers.reporting import BUCKETS, REGION_ORDER, period_key
from sincro.errors import InvalidInput, NotFound
from sincro.reports import service
from sincro.reports.schemas import (
    CADENCES,
    REPORTS,
    SCHEDULABLE,
    WEEKDAYS_PT,
    ScheduleIn,
    may_read,
)

router = APIRouter(prefix="/console/reports", include_in_schema=False)

SECTION = "reports"
GRAINS_PT = {"day": "dia", "week": "semana", "month": "mês"}
RUN_STATUS_PT = {
    "sending": "enviando",
    "sent": "enviado",
    "retry": "nova tentativa",
    "failed": "falhou",
}
FIELDS_PT = {
    "start": "Início",
    "end": "Fim",
    "as_of": "Posição em",
    "grain": "Agrupar por",
    "recipients": "Destinatários",
    "hour": "Hora",
    "report": "Relatório",
    "cadence": "Frequência",
    "params": "Parâmetros",
}


def _forbidden(request: Request) -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403)


def _day(value: str, field: str, errors: list[str]) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{FIELDS_PT[field]}: data inválida ({value[:20]}).")
        return None


def _month(value: str, field: str, errors: list[str]) -> dt.date | None:
    """``2026-12`` (an ``<input type=month>``) or a full date; the month's first day."""
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value if len(value) > 7 else f"{value}-01").replace(day=1)
    except ValueError:
        errors.append(f"{FIELDS_PT[field]}: mês inválido ({value[:20]}).")
        return None


def _invalid(exc: InvalidInput) -> str:
    label = FIELDS_PT.get(exc.field or "", exc.field or "")
    messages = {
        "start": "o início não pode ser depois do fim.",
        "as_of": "a data não pode estar no futuro nem antes de 2000.",
        "grain": "período longo demais para agrupar por dia; escolha semana ou mês.",
    }
    text = messages.get(exc.field or "", "intervalo longo demais para um relatório.")
    return f"{label}: {text}" if label else text


def period_label(start: dt.date, grain: str) -> str:
    if grain == "day":
        return start.strftime("%d/%m")
    if grain == "week":
        return f"sem. {start:%d/%m}"
    return start.strftime("%m/%Y")


def _export_links(request: Request, route: str, query: dict[str, Any]) -> dict[str, str]:
    return {
        "excel": url(request, route, query),
        "plain": url(request, route, {**query, "formato": "dados"}),
    }


# --- the hub ---------------------------------------------------------------------------------


@router.get("", name="console_reports")
def hub(request: Request, user: ConsoleUserDep) -> Response:
    """The reports this role may read, and the schedules."""
    routes = {
        "new_customers": "console_report_new_customers",
        "defaulters": "console_report_defaulters",
        "billing": "console_report_billing",
        "campaigns": "console_report_campaigns",
    }
    cards = [
        {"key": key, "title": title, "href": url(request, routes[key])}
        for key, (title, _roles, _slug) in REPORTS.items()
        if may_read(user.role, key)
    ]
    return render(request, "reports/index.html", {"cards": cards}, section=SECTION)


# --- new customers ---------------------------------------------------------------------------


def _new_customers(request: Request, start: str, end: str, grain: str) -> dict[str, Any]:
    settings = app_state(request).settings
    errors: list[str] = []
    first, last = _day(start, "start", errors), _day(end, "end", errors)
    grain = grain if grain in GRAINS_PT else "day"
    context: dict[str, Any] = {"errors": errors, "grain": grain, "grains": GRAINS_PT}
    if errors:
        return context
    try:
        first, last, grain = service.new_customers_range(settings, first, last, grain)
    except InvalidInput as exc:
        errors.append(_invalid(exc))
        return context
    with app_state(request).db.read() as session:
        result = service.new_customers(session, first, last, grain)
    labels = [period_label(p, grain) for p in result.periods]
    series = [
        {"label": name, "data": counts}
        for name, counts in result.by_region.items()
        if any(counts) or name in REGION_ORDER[:5]
    ]
    context.update(
        result=result,
        form={"start": first.isoformat(), "end": last.isoformat(), "grain": grain},
        spec={
            "type": "bar",
            "stacked": True,
            "labels": labels,
            "series": series,
            "y_label": "Novos clientes",
        },
        regions=[(name, sum(counts)) for name, counts in result.by_region.items()],
        states=sorted(
            ((name, sum(counts)) for name, counts in result.by_state.items()),
            key=lambda item: (-item[1], item[0]),
        ),
        keys=[period_key(p, grain) for p in result.periods],
    )
    return context


@router.get("/new-customers", name="console_report_new_customers")
def new_customers_page(
    request: Request, user: ConsoleUserDep, start: str = "", end: str = "", grain: str = "day"
) -> Response:
    if not may_read(user.role, "new_customers"):
        return _forbidden(request)
    context = _new_customers(request, start, end, grain)
    form = context.get("form") or {"start": start, "end": end, "grain": grain}
    context["form"] = form
    context["export"] = _export_links(request, "console_report_new_customers_csv", form)
    status = 422 if context["errors"] else 200
    return render(
        request, "reports/new_customers.html", context, section=SECTION, status_code=status
    )


# --- defaulters ------------------------------------------------------------------------------


@router.get("/defaulters", name="console_report_defaulters")
def defaulters_page(request: Request, user: ConsoleUserDep, as_of: str = "") -> Response:
    if not may_read(user.role, "defaulters"):
        return _forbidden(request)
    state = app_state(request)
    errors: list[str] = []
    day = _day(as_of, "as_of", errors)
    context: dict[str, Any] = {"errors": errors, "form": {"as_of": as_of}, "buckets": BUCKETS}
    if not errors:
        try:
            day = service.defaulters_as_of(state.settings, day)
        except InvalidInput as exc:
            errors.append(_invalid(exc))
    if not errors and day is not None:
        with state.db.read() as session:
            result = service.defaulters(session, state.settings, day)
        context.update(
            result=result,
            form={"as_of": day.isoformat()},
            bucket_chart={
                "type": "bar",
                "labels": [f"{name} dias" for name in BUCKETS],
                "series": [
                    {
                        "label": "Valor em atraso (R$)",
                        "data": [float(result.totals[name].amount) for name in BUCKETS],
                    }
                ],
                "y_label": "R$",
            },
            uf_chart={
                "type": "bar",
                "stacked": True,
                "labels": [s.state for s in result.states],
                "series": [
                    {
                        "label": f"{name} dias",
                        "data": [float(s.buckets[name].amount) for s in result.states],
                    }
                    for name in BUCKETS
                ],
                "y_label": "R$",
            },
        )
    context["export"] = _export_links(request, "console_report_defaulters_csv", context["form"])
    return render(
        request,
        "reports/defaulters.html",
        context,
        section=SECTION,
        status_code=422 if errors else 200,
    )


# --- billing ---------------------------------------------------------------------------------


@router.get("/billing", name="console_report_billing")
def billing_page(
    request: Request, user: ConsoleUserDep, start: str = "", end: str = "", as_of: str = ""
) -> Response:
    if not may_read(user.role, "billing"):
        return _forbidden(request)
    state = app_state(request)
    errors: list[str] = []
    first, last = _month(start, "start", errors), _month(end, "end", errors)
    day = _day(as_of, "as_of", errors)
    context: dict[str, Any] = {"errors": errors, "form": {"start": start, "end": end}}
    if not errors:
        try:
            first, last, day = service.billing_range(state.settings, first, last, day)
        except InvalidInput as exc:
            errors.append(_invalid(exc))
    if not errors and first and last and day:
        with state.db.read() as session:
            result = service.billing(session, first, last, day)
        context.update(
            result=result,
            form={"start": f"{first:%Y-%m}", "end": f"{last:%Y-%m}", "as_of": day.isoformat()},
            spec={
                "type": "line",
                "labels": [f"{m.month:%m/%Y}" for m in result.months],
                "series": [
                    {"label": "Faturado (R$)", "data": [float(m.invoiced) for m in result.months]},
                    {"label": "Recebido (R$)", "data": [float(m.received) for m in result.months]},
                ],
                "y_label": "R$",
            },
            share=round(result.overdue_share * 100, 1),
        )
    context["export"] = _export_links(request, "console_report_billing_csv", context["form"])
    return render(
        request,
        "reports/billing.html",
        context,
        section=SECTION,
        status_code=422 if errors else 200,
    )


# --- campaign results ------------------------------------------------------------------------


@router.get("/campaigns", name="console_report_campaigns")
def campaigns_page(
    request: Request, user: ConsoleUserDep, start: str = "", end: str = ""
) -> Response:
    if not may_read(user.role, "campaigns"):
        return _forbidden(request)
    state = app_state(request)
    errors: list[str] = []
    first, last = _day(start, "start", errors), _day(end, "end", errors)
    context: dict[str, Any] = {"errors": errors, "form": {"start": start, "end": end}}
    if not errors:
        try:
            first, last, _ = service.new_customers_range(state.settings, first, last, "month")
        except InvalidInput as exc:
            errors.append(_invalid(exc))
    if not errors and first and last:
        with state.db.read() as session:
            rows = service.campaign_results(session, first, last)
        context["form"] = {"start": first.isoformat(), "end": last.isoformat()}
        context["available"] = rows is not None
        context["rows"] = rows or []
        if rows:
            context["spec"] = {
                "type": "bar",
                "stacked": True,
                "labels": [str(r["name"]) for r in rows],
                "series": [
                    {"label": label, "data": [r[key] or 0 for r in rows]}
                    for key, label in (
                        ("sent", "Enviados"),
                        ("failed", "Falhas"),
                        ("bounced", "Devolvidos"),
                        ("unsubscribed", "Descadastros"),
                    )
                ],
            }
    return render(
        request,
        "reports/campaigns.html",
        context,
        section=SECTION,
        status_code=422 if errors else 200,
    )


# --- CSV downloads ---------------------------------------------------------------------------


@router.get("/new-customers.csv", name="console_report_new_customers_csv")
def new_customers_csv(
    request: Request,
    user: ConsoleUserDep,
    start: str = "",
    end: str = "",
    grain: str = "day",
    formato: str = "",
) -> Response:
    if not may_read(user.role, "new_customers"):
        return _forbidden(request)
    context = _new_customers(request, start, end, grain)
    if context["errors"]:
        return render(request, "error.html", {"status": 422}, status_code=422)
    return _download(service.new_customers_table(context["result"]), formato)


@router.get("/defaulters.csv", name="console_report_defaulters_csv")
def defaulters_csv(
    request: Request, user: ConsoleUserDep, as_of: str = "", formato: str = ""
) -> Response:
    if not may_read(user.role, "defaulters"):
        return _forbidden(request)
    state, errors = app_state(request), list[str]()
    day = _day(as_of, "as_of", errors)
    try:
        day = service.defaulters_as_of(state.settings, day)
    except InvalidInput:
        errors.append("as_of")
    if errors or day is None:
        return render(request, "error.html", {"status": 422}, status_code=422)
    with state.db.read() as session:
        result = service.defaulters(session, state.settings, day)
    return _download(service.defaulters_table(result), formato)


@router.get("/billing.csv", name="console_report_billing_csv")
def billing_csv(
    request: Request,
    user: ConsoleUserDep,
    start: str = "",
    end: str = "",
    as_of: str = "",
    formato: str = "",
) -> Response:
    if not may_read(user.role, "billing"):
        return _forbidden(request)
    state, errors = app_state(request), list[str]()
    first, last = _month(start, "start", errors), _month(end, "end", errors)
    day = _day(as_of, "as_of", errors)
    if errors:
        return render(request, "error.html", {"status": 422}, status_code=422)
    try:
        months_from, months_to, open_on = service.billing_range(state.settings, first, last, day)
    except InvalidInput:
        return render(request, "error.html", {"status": 422}, status_code=422)
    with state.db.read() as session:
        result = service.billing(session, months_from, months_to, open_on)
    return _download(service.billing_table(result), formato)


def _download(table: service.Table, formato: str) -> Response:
    form = parse_form(formato)
    header = table.header_pt if form == "excel" else table.header
    return csv_response(table.name, header, table.rows, form)


# --- schedules -------------------------------------------------------------------------------


def _schedules_context(request: Request, user: SessionUser) -> dict[str, Any]:
    readable = [name for name in REPORTS if may_read(user.role, name)]
    with app_state(request).db.read() as session:
        items = service.schedules(session, readable)
    return {
        "schedules": items,
        "reports": {k: REPORTS[k][0] for k in SCHEDULABLE if k in readable},
        "all_reports": {k: v[0] for k, v in REPORTS.items()},
        "cadences": CADENCES,
        "weekdays": WEEKDAYS_PT,
        "zone": app_state(request).settings.reports_time_zone,
        "errors": [],
        "form": {"hour": "8", "cadence": "daily", "days": "30", "months": "12"},
        "schedule_label": schedule_label,
        "run_status": RUN_STATUS_PT,
    }


@router.get("/schedules", name="console_report_schedules")
def schedules_page(request: Request, user: ConsoleUserDep, saved: str = "") -> Response:
    context = _schedules_context(request, user)
    context["saved"] = saved
    return render(request, "reports/schedules.html", context, section=SECTION)


@router.post("/schedules", name="console_report_schedule_create")
def create_schedule(
    request: Request,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    report: Annotated[str, Form(max_length=20)] = "",
    recipients: Annotated[str, Form(max_length=4000)] = "",
    cadence: Annotated[str, Form(max_length=10)] = "daily",
    hour: Annotated[str, Form(max_length=4)] = "8",
    weekday: Annotated[str, Form(max_length=2)] = "0",
    day_of_month: Annotated[str, Form(max_length=4)] = "1",
    grain: Annotated[str, Form(max_length=8)] = "day",
    days: Annotated[str, Form(max_length=6)] = "30",
    months: Annotated[str, Form(max_length=4)] = "12",
) -> Response:
    context = _schedules_context(request, user)
    context["form"] = {
        "report": report,
        "recipients": recipients,
        "cadence": cadence,
        "hour": hour,
        "weekday": weekday,
        "day_of_month": day_of_month,
        "grain": grain,
        "days": days,
        "months": months,
    }
    errors: list[str] = context["errors"]
    if not csrf_ok(request, csrf):
        errors.append("Sua sessão expirou. Recarregue a página e tente de novo.")
    elif report not in context["reports"]:
        errors.append("Relatório: escolha um dos relatórios da lista.")
    if errors:
        return render(request, "reports/schedules.html", context, section=SECTION, status_code=400)
    params: dict[str, Any] = {}
    if report == "new_customers":
        params = {"grain": grain, "days": days}
    elif report == "billing":
        params = {"months": months}
    try:
        data = ScheduleIn.model_validate(
            {
                "report": report,
                "params": params,
                "recipients": _addresses(recipients),
                "cadence": cadence,
                "hour": hour,
                "weekday": weekday,
                "day_of_month": day_of_month,
            }
        )
        actor = Actor.user(user.id, user.name).seen_at(request)
        app_state(request).run_write(
            lambda s: service.create_schedule(s, app_state(request).settings, data, actor)
        )
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.append(f"{FIELDS_PT.get(field, field)}: valor inválido.")
    except InvalidInput as exc:
        errors.append(f"{FIELDS_PT.get(exc.field or '', exc.field)}: {exc.message}")
    if errors:
        return render(request, "reports/schedules.html", context, section=SECTION, status_code=422)
    return RedirectResponse(
        url(request, "console_report_schedules", {"saved": "1"}), status_code=303
    )


@router.post("/schedules/{schedule_id}/delete", name="console_report_schedule_delete")
def delete_schedule(
    request: Request,
    schedule_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf):
        context = _schedules_context(request, user)
        context["errors"].append("Sua sessão expirou. Recarregue a página e tente de novo.")
        return render(request, "reports/schedules.html", context, section=SECTION, status_code=400)
    actor = Actor.user(user.id, user.name).seen_at(request)

    def work(session: Any) -> bool:
        row = service.get_schedule(session, schedule_id)
        if not may_read(user.role, row.report):
            return False
        service.delete_schedule(session, schedule_id, actor)
        return True

    try:
        allowed = app_state(request).run_write(work)
    except NotFound:
        allowed = True  # already gone: the list shows the truth
    if not allowed:
        return _forbidden(request)
    return RedirectResponse(url(request, "console_report_schedules"), status_code=303)


def _addresses(text: str) -> list[str]:
    """Recipients typed one per line or separated by commas or semicolons."""
    return [a for a in text.replace(";", ",").replace("\n", ",").split(",") if a.strip()]


def schedule_label(row: Any) -> str:
    """``diário às 08h``, ``semanal (segunda) às 08h``, ``mensal (dia 5) às 08h``."""
    when = CADENCES.get(row.cadence, row.cadence)
    if row.cadence == "weekly":
        when += f" ({WEEKDAYS_PT[row.weekday]})"
    elif row.cadence == "monthly":
        when += f" (dia {row.day_of_month})"
    return f"{when} às {row.hour:02d}h"
