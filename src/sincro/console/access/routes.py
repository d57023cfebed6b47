"""The console's "Auditoria" page (admins): who changed what and when, with filters, local
times (America/Sao_Paulo) and a CSV export. It reads through :func:`sincro.audit.read`, the
same query as ``GET /v1/audit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sincro import audit
from sincro.audit import AuditEntry, AuditFilter
from sincro.console.export import csv_response, parse_form
from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import ConsoleUserDep, Pager, app_state, render
from sincro.domains import audit_action_labels
from sincro.errors import InvalidInput
from sincro.text_pt import SAO_PAULO

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 50_000
ACTOR_LABELS = {
    "key": "Chave de API",
    "user": "Usuário",
    "cli": "Linha de comando",
    "system": "Sistema",
}
FIELD_NAMES = {"actor": "Autor", "until": "Até", "since": "De"}


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The page's filters as typed in the form (kept to refill it) and the parsed filter."""

    actor: str
    action: str
    entity: str
    since: str
    until: str
    filters: AuditFilter | None
    errors: tuple[str, ...]


def _local_day(value: str, field: str, errors: list[str]) -> dt.datetime | None:
    """Midnight of a ``aaaa-mm-dd`` day in São Paulo, as UTC; an error when unreadable."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{FIELD_NAMES[field]}: data inválida (use dd/mm/aaaa).")
        return None
    return dt.datetime.combine(day, dt.time(), SAO_PAULO).astimezone(dt.UTC)


def parse_query(request: Request) -> AuditQuery:
    """The filters of the query string (``ator``, ``acao``, ``entidade``, ``de``, ``ate``);
    ``ate`` includes the whole day."""
    q = {k: request.query_params.get(k, "").strip()[:160] for k in ("ator", "acao", "entidade")}
    since_text = request.query_params.get("de", "").strip()
    until_text = request.query_params.get("ate", "").strip()
    errors: list[str] = []
    since = _local_day(since_text, "since", errors)
    until = _local_day(until_text, "until", errors)
    if until is not None:
        until += dt.timedelta(days=1)
    filters = None
    if not errors:
        try:
            filters = audit.parse_filter(q["ator"], q["acao"], q["entidade"], since, until)
        except InvalidInput as exc:
            errors.append(f"{FIELD_NAMES.get(exc.field or '', exc.field)}: filtro inválido.")
    values = (q["ator"], q["acao"], q["entidade"], since_text, until_text)
    return AuditQuery(*values, filters=filters, errors=tuple(errors))


def changes(entry: AuditEntry) -> str:
    """Before → after as short JSON text (personal data was masked when written)."""

    def text(value: Any) -> str:
        return "–" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    return f"{text(entry.before)} → {text(entry.after)}"


@router.get("/audit", name="console_audit")
def audit_page(request: Request, _user: ConsoleUserDep, page: str = "") -> Response:
    """The audit log, newest first, filtered by author, action, entity and local dates."""
    query = parse_query(request)
    entries: Sequence[AuditEntry] = ()
    pager = Pager.parse(page, PAGE_SIZE)
    if query.filters is not None:
        filters = query.filters
        with app_state(request).db.read() as session:
            entries, pager = fetch_page(
                pager, lambda offset, limit: audit.read(session, filters, offset, limit)
            )
    context = {
        "query": query,
        "entries": entries,
        "pager": pager,
        "errors": list(query.errors),
        "actor_labels": ACTOR_LABELS,
        "action_labels": audit_action_labels(),
        "changes": changes,
    }
    return render(request, "access/audit.html", context, section="audit")


@router.get("/audit.csv", name="console_audit_csv")
def audit_csv(request: Request, user: ConsoleUserDep, formato: str = "") -> Response:
    """The filtered audit log as a CSV file (at most 50,000 rows, newest first)."""
    query = parse_query(request)
    if query.filters is None or user.role != "admin":
        return render(request, "error.html", {"status": 403}, status_code=403)
    with app_state(request).db.read() as session:
        rows, _ = audit.read(session, query.filters, 0, EXPORT_MAX_ROWS)
        lines = list(_csv_rows(rows))
    header = ("quando", "autor_tipo", "autor_id", "autor", "acao", "entidade", "entidade_id",
              "antes", "depois", "cliente", "request_id")  # fmt: skip
    return csv_response("auditoria", header, lines, parse_form(formato))


def _csv_rows(rows: Sequence[AuditEntry]) -> Iterator[tuple[Any, ...]]:
    for e in rows:
        before = None if e.before is None else json.dumps(e.before, ensure_ascii=False)
        after = None if e.after is None else json.dumps(e.after, ensure_ascii=False)
        yield (e.at, e.actor_kind, e.actor_id, e.actor_label, e.action, e.entity_type,
               e.entity_id, before, after, e.client, e.request_id)  # fmt: skip
