"""Console pages of marketing automation ("Automação", admin and ``marketing``): the rules
(list with their results, a validated and audited form), the interests overview (aggregates:
nobody is named) and the results with a chart of offers and conversions per day and a CSV
download (pt-BR Excel form; ``?formato=dados`` for machines)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from sincro.audit import Actor
from sincro.automation import service
from sincro.automation.kinds import KIND_LABELS_PT, KINDS
from sincro.automation.models import Rule
from sincro.automation.schemas import RuleIn
from sincro.console.export import csv_response, parse_form
from sincro.console.routes import (
    ConsoleUserDep,
    SessionUser,
    app_state,
    csrf_ok,
    not_found,
    render,
    url,
)
from sincro.errors import SincroError

router = APIRouter(prefix="/console/automacao", include_in_schema=False)
SECTION = "automation"
ROLES = ("admin", "marketing")
DEFAULT_DAYS = 30
MAX_DAYS = 366
FIELDS_PT = {
    "name": "Nome",
    "kind": "Interesse",
    "min_strength": "Força mínima",
    "within_days": "Nos últimos (dias)",
    "template_id": "Modelo de mensagem",
    "active": "Ativa",
}
INTEREST_WINDOWS = (7, 30, 90)


def _allowed(user: SessionUser) -> bool:
    return user.role in ROLES


def _forbidden(request: Request) -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403)


def _actor(user: SessionUser, request: Request) -> Actor:
    return Actor.user(user.id, user.name).seen_at(request)


def _period(start: str, end: str, today: dt.date) -> tuple[dt.date, dt.date, list[str]]:
    errors: list[str] = []
    parsed: dict[str, dt.date | None] = {}
    for field, label, value in (("start", "Início", start), ("end", "Fim", end)):
        try:
            parsed[field] = dt.date.fromisoformat(value.strip()) if value.strip() else None
        except ValueError:
            errors.append(f"{label}: data inválida ({value[:20]}).")
            parsed[field] = None
    last = parsed["end"] or today
    first = parsed["start"] or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        errors.append("Início: o início não pode ser depois do fim.")
    elif (last - first).days >= MAX_DAYS:
        errors.append(f"Início: no máximo {MAX_DAYS} dias por vez.")
    return first, last, errors


def _today(request: Request) -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(app_state(request).settings.console_time_zone)).date()


# --- rules ----------------------------------------------------------------------------------


@router.get("", name="console_automation")
def index(request: Request, user: ConsoleUserDep, notice: str = "") -> Response:
    state = app_state(request)
    last = _today(request)
    first = last - dt.timedelta(days=DEFAULT_DAYS - 1)
    with state.db.read() as session:
        rules = service.list_rules(session)
        names = service.template_names(session, [r.template_id for r in rules])
        outcome = service.results(
            session, state.settings, first, last, state.settings.console_time_zone
        )
    per_rule = {r.rule_id: r for r in outcome.rules}
    context = {
        "rules": rules,
        "per_rule": per_rule,
        "template_names": names,
        "kinds": KIND_LABELS_PT,
        "notice": notice[:200],
        "conversion_days": state.settings.automation_conversion_days,
        "cap": (state.settings.automation_cap_offers, state.settings.automation_cap_days),
        "quiet": (state.settings.messaging_quiet_start, state.settings.messaging_quiet_end),
    }
    return render(request, "automation/index.html", context, section=SECTION)


def _form_page(
    request: Request,
    rule: Rule | None,
    values: dict[str, Any],
    errors: list[str],
    status_code: int = 200,
) -> Response:
    state = app_state(request)
    templates = state.run_write(service.offer_templates)
    context = {
        "rule": rule,
        "values": values,
        "errors": errors,
        "kinds": {k: KIND_LABELS_PT[k] for k in KINDS},
        "templates": [(t.id, t.name) for t in templates],
    }
    return render(
        request, "automation/rule.html", context, section=SECTION, status_code=status_code
    )


def _values_of(rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {"name": "", "kind": "plan_upgrade", "min_strength": "0.5", "within_days": "7",
                "template_id": "", "active": True}  # fmt: skip
    return {
        "name": rule.name,
        "kind": rule.kind,
        "min_strength": f"{rule.min_strength:g}".replace(".", ","),
        "within_days": str(rule.within_days),
        "template_id": str(rule.template_id),
        "active": rule.active,
    }


@router.get("/regras/nova", name="console_automation_rule_new")
def new_rule(request: Request, user: ConsoleUserDep) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    return _form_page(request, None, _values_of(None), [])


@router.get("/regras/{rule_id}", name="console_automation_rule")
def edit_rule(request: Request, user: ConsoleUserDep, rule_id: int) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    with app_state(request).db.read() as session:
        try:
            rule = service.get_rule(session, rule_id)
        except SincroError:
            return not_found(request, "Regra não encontrada", f"Não há regra {rule_id}.")
        session.expunge(rule)
    return _form_page(request, rule, _values_of(rule), [])


def _number(value: str) -> str:
    return value.strip().replace(".", "").replace(",", ".") if "," in value else value.strip()


def _save(
    request: Request,
    user: SessionUser,
    rule_id: int | None,
    csrf: str,
    values: dict[str, Any],
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    if not csrf_ok(request, csrf):
        return RedirectResponse(
            url(request, "console_automation", {"notice": "Sessão expirada; tente de novo."}), 303
        )
    state = app_state(request)
    actor = _actor(user, request)
    rule: Rule | None = None
    if rule_id is not None:
        with state.db.read() as session:
            try:
                rule = service.get_rule(session, rule_id)
            except SincroError:
                return not_found(request, "Regra não encontrada", f"Não há regra {rule_id}.")
            session.expunge(rule)
    errors: list[str] = []
    try:
        body = RuleIn.model_validate(
            {
                "name": values["name"],
                "kind": values["kind"],
                "min_strength": _number(values["min_strength"]) or "0",
                "within_days": values["within_days"].strip() or "0",
                "template_id": values["template_id"].strip() or "0",
                "active": values["active"],
            }
        )
    except ValidationError as exc:
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            errors.append(f"{FIELDS_PT.get(field, field)}: {_message_pt(problem)}")
        return _form_page(request, rule, values, errors, 422)
    try:
        if rule_id is None:
            saved = state.run_write(lambda s: service.create_rule(s, body, actor).id)
        else:
            saved = state.run_write(lambda s: service.update_rule(s, rule_id, body, actor).id)
    except SincroError as exc:
        label = FIELDS_PT.get(exc.field or "", exc.field or "")
        text = (
            "o modelo precisa ser de ofertas (marketing) e usar só as variáveis das ofertas."
            if exc.field == "template_id"
            else exc.message
        )
        return _form_page(request, rule, values, [f"{label}: {text}"], 422)
    notice = f"Regra {saved} salva."
    return RedirectResponse(url(request, "console_automation", {"notice": notice}), 303)


def _message_pt(problem: Any) -> str:
    kind = problem.get("type", "")
    ctx = problem.get("ctx") or {}
    if kind in ("missing", "string_too_short"):
        return "preencha este campo."
    if kind == "string_too_long":
        return f"no máximo {ctx.get('max_length')} caracteres."
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "int_from_float"):
        return "informe um número."
    if kind in ("greater_than_equal", "greater_than"):
        return f"deve ser pelo menos {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"deve ser no máximo {ctx.get('le', ctx.get('lt'))}."
    if kind == "literal_error":
        return "escolha uma das opções."
    return "valor inválido."


Text = Annotated[str, Form(max_length=200)]


def _form_values(
    name: str, kind: str, min_strength: str, within_days: str, template_id: str, active: str
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "min_strength": min_strength,
        "within_days": within_days,
        "template_id": template_id,
        "active": bool(active),
    }


@router.post("/regras", name="console_automation_rule_create")
def create_rule(
    request: Request,
    user: ConsoleUserDep,
    csrf: Text = "",
    name: Text = "",
    kind: Text = "",
    min_strength: Text = "",
    within_days: Text = "",
    template_id: Text = "",
    active: Text = "",
) -> Response:
    values = _form_values(name, kind, min_strength, within_days, template_id, active)
    return _save(request, user, None, csrf, values)


@router.post("/regras/{rule_id}", name="console_automation_rule_save")
def save_rule(
    request: Request,
    user: ConsoleUserDep,
    rule_id: int,
    csrf: Text = "",
    name: Text = "",
    kind: Text = "",
    min_strength: Text = "",
    within_days: Text = "",
    template_id: Text = "",
    active: Text = "",
) -> Response:
    values = _form_values(name, kind, min_strength, within_days, template_id, active)
    return _save(request, user, rule_id, csrf, values)


# --- interests ------------------------------------------------------------------------------


@router.get("/interesses", name="console_automation_interests")
def interests(request: Request, user: ConsoleUserDep, days: str = "30") -> Response:
    window = int(days) if days.isdigit() and int(days) in INTEREST_WINDOWS else 30
    with app_state(request).db.read() as session:
        groups = service.interest_groups(session, days=window)
    totals: dict[str, int] = {}
    for g in groups:
        totals[g.kind] = totals.get(g.kind, 0) + g.customers
    context = {
        "groups": groups,
        "days": window,
        "windows": INTEREST_WINDOWS,
        "kinds": KIND_LABELS_PT,
        "totals": [(KIND_LABELS_PT[k], totals.get(k, 0)) for k in KINDS],
    }
    return render(request, "automation/interests.html", context, section=SECTION)


# --- results --------------------------------------------------------------------------------


@router.get("/resultados", name="console_automation_results")
def results_page(
    request: Request, user: ConsoleUserDep, start: str = "", end: str = ""
) -> Response:
    state = app_state(request)
    first, last, errors = _period(start, end, _today(request))
    context: dict[str, Any] = {
        "errors": errors,
        "form": {"start": start, "end": end},
        "kinds": KIND_LABELS_PT,
    }
    if not errors:
        with state.db.read() as session:
            outcome = service.results(
                session, state.settings, first, last, state.settings.console_time_zone
            )
        form = {"start": first.isoformat(), "end": last.isoformat()}
        context.update(
            outcome=outcome,
            form=form,
            spec={
                "type": "bar",
                "labels": [d.day.strftime("%d/%m") for d in outcome.days],
                "series": [
                    {"label": "Ofertas enviadas", "data": [d.offers for d in outcome.days]},
                    {"label": "Conversões", "data": [d.conversions for d in outcome.days]},
                ],
                "y_label": "Ofertas",
            },
            export={
                "excel": url(request, "console_automation_results_csv", form),
                "plain": url(
                    request, "console_automation_results_csv", {**form, "formato": "dados"}
                ),
            },
        )
    return render(
        request,
        "automation/results.html",
        context,
        section=SECTION,
        status_code=422 if errors else 200,
    )


@router.get("/resultados.csv", name="console_automation_results_csv")
def results_csv(
    request: Request, user: ConsoleUserDep, start: str = "", end: str = "", formato: str = ""
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    state = app_state(request)
    first, last, errors = _period(start, end, _today(request))
    if errors:
        return render(request, "error.html", {"status": 422}, status_code=422)
    with state.db.read() as session:
        outcome = service.results(
            session, state.settings, first, last, state.settings.console_time_zone
        )
    form = parse_form(formato)
    header = (
        ["dia", "ofertas enviadas", "conversões"]
        if form == "excel"
        else ["day", "offers", "conversions"]
    )
    rows = [(d.day, d.offers, d.conversions) for d in outcome.days]
    return csv_response(f"automacao-{first}-{last}", header, rows, form)
