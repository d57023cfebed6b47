"""Console pages for the ERP sync ("Sincronização"): sources with their health, breaker and
data age, recent runs (running ones with a progress bar refreshed every 2 s from a small JSON
endpoint), the file ledger with each file's rejects and a "Reprocessar" button for failed
files, drift reports and open alerts. Everything is read through
:mod:`sincro.connectors.status`, the same queries as ``/v1/sync``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sincro.audit import Actor
from sincro.connectors import kinds, status
from sincro.connectors.backlog import file_backlog
from sincro.connectors.models import ErpFile, SyncRun
from sincro.console.formatting import datetime_br, integer
from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import (
    ConsoleUserDep,
    Pager,
    app_state,
    csrf_ok,
    not_found,
    render,
    session_user,
    url,
)
from sincro.db import utcnow
from sincro.errors import Conflict, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)

RECENT_RUNS = 15
FILES_PAGE_SIZE = 25
REJECTS_PAGE_SIZE = 50
REPORTS_SHOWN = 5
DRIFTS_SHOWN = 5
ALERTS_SHOWN = 20
POLL_INTERVAL_MS = 2000
SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")

SOURCE_STATUS = {
    "ok": ("ok", "ok"),
    "degraded": ("degradado", "warn"),
    "down": ("fora do ar", "bad"),
    "stale": ("desatualizado", "warn"),
    "unknown": ("desconhecido", "muted"),
}
BREAKER = {
    "closed": ("fechado", "ok"),
    "open": ("aberto", "bad"),
    "half_open": ("meio-aberto", "warn"),
}
RUN_STATUS = {
    "running": ("em andamento", "info"),
    "succeeded": ("concluída", "ok"),
    "partial": ("parcial", "warn"),
    "failed": ("falhou", "bad"),
}
TRIGGERS = {
    "schedule": "agendada",
    "event": "evento",
    "manual": "manual",
    "replay": "reprocessamento",
}
FILE_STATES = {
    "received": ("recebido", "info"),
    "processing": ("processando", "info"),
    "done": ("concluído", "ok"),
    "failed": ("falhou", "bad"),
    "quarantined": ("em quarentena", "bad"),
    "superseded": ("substituído", "muted"),
    "duplicate": ("duplicado", "muted"),
}
FILE_KINDS = {
    "snapshot": "foto do estoque",
    "movements": "movimentos",
    "ack": "confirmação",
    "writeback": "retorno",
}
DIRECTIONS = {"in": "entrada", "out": "saída"}
ENTITIES = {
    "goods_movements": "movimentos de mercadoria",
    "movements": "movimentos",
    "stock_snapshot": "foto do estoque",
    "writeback_ack": "confirmação de envio",
    "products": "produtos",
    "stock": "estoque",
    "customers": "clientes",
    "receivables": "títulos a receber",
    "documents": "documentos de produto",
    "locations": "lojas e CDs",
}
REJECT_RULES = {
    "missing_field": "campo ausente",
    "required": "obrigatório",
    "bad_number": "número inválido",
    "bad_value": "valor inválido",
    "bad_date": "data inválida",
    "bad_payload": "conteúdo inválido",
    "zero_quantity": "quantidade zero",
    "negative_stock": "estoque negativo",
    "not_an_object": "registro malformado",
    "invalid": "inválido",
    "invalid_movement": "movimento inválido",
    "unknown": "desconhecido",
    "unknown_location": "local desconhecido",
    "unknown_product": "produto desconhecido",
    "unknown_material": "material desconhecido",
    "unknown_plant": "centro desconhecido",
    "unknown_unit": "unidade desconhecida",
    "client_error": "recusado pelo ERP",
}
BACKLOG = {False: ("normal", "ok"), True: ("acumulando", "warn")}
SEVERITY = {
    "info": ("informação", "info"),
    "warning": ("atenção", "warn"),
    "critical": ("crítico", "bad"),
}


def label(table: dict[str, Any], value: str | None) -> tuple[str, str]:
    """(pt-BR label, pill tone) of a coded value; unknown codes shown as they are."""
    if value is None:
        return "—", "muted"
    found = table.get(value)
    if found is None:
        return value, "muted"
    return found if isinstance(found, tuple) else (found, "muted")


def age(seconds: int | None) -> str:
    """A data age in pt-BR: "agora", "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if seconds is None:
        return "—"
    if seconds < 5:
        return "agora"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{integer(days)} d {hours} h"


def progress(run: SyncRun, zone: str | None = None) -> dict[str, Any]:
    """A run's progress for the page and the poll: done, total, percent, labels."""
    percent = None
    if run.progress_total:
        percent = round(min(100.0, 100.0 * run.progress_done / run.progress_total), 1)
    status_label, tone = label(RUN_STATUS, run.status)
    if run.progress_total:
        text = f"{integer(run.progress_done)} de {integer(run.progress_total)}"
    else:
        text = f"{integer(run.progress_done)} registros"
    return {
        "id": run.id,
        "status": run.status,
        "status_label": status_label,
        "tone": tone,
        "done": run.progress_done,
        "total": run.progress_total,
        "percent": percent,
        "text": text,
        "applied": integer(run.records_applied),
        "rejected": integer(run.records_rejected),
        "finished_at": datetime_br(run.finished_at, zone),
        "running": run.status == "running",
    }


def _file_view(row: ErpFile) -> dict[str, Any]:
    state_label, tone = label(FILE_STATES, row.state)
    return {
        "id": row.id,
        "source": row.source,
        "direction": DIRECTIONS.get(row.direction, row.direction),
        "kind": FILE_KINDS.get(row.kind, row.kind),
        "name": row.name,
        "size": row.size,
        "state": row.state,
        "state_label": state_label,
        "tone": tone,
        "as_of": row.as_of,
        "rows_total": row.rows_total,
        "rows_applied": row.rows_applied,
        "rows_rejected": row.rows_rejected,
        "error": row.error,
        "received_at": row.received_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "replayable": row.state in status.REPLAYABLE_STATES,
    }


def _helpers() -> dict[str, Any]:
    return {
        "label": label,
        "age": age,
        "source_status": SOURCE_STATUS,
        "source_kinds": kinds.labels(),
        "breaker_labels": BREAKER,
        "run_status": RUN_STATUS,
        "triggers": TRIGGERS,
        "file_states": FILE_STATES,
        "severity": SEVERITY,
        "entities": ENTITIES,
        "reject_rules": REJECT_RULES,
        "backlog_states": BACKLOG,
    }


@router.get("/sync", name="console_sync")
def sync_page(
    request: Request,
    _user: ConsoleUserDep,
    source: str = "",
    state: str = "",
    page: str = "",
    replayed: str = "",
) -> Response:
    """Sources (with their next scheduled run), the incoming file backlog, recent runs,
    the file ledger, drift reports and open alerts, all in pt-BR and local time."""
    source = source.strip() if SOURCE_RE.fullmatch(source.strip()) else ""
    state = state if state in FILE_STATES else ""
    settings = app_state(request).settings
    config = status.configured(settings)
    with app_state(request).db.read() as session:
        sources = status.sources(session, config=config)
        backlog = file_backlog(session, settings)
        runs, _ = status.runs(session, offset=0, limit=RECENT_RUNS)
        zone = settings.console_time_zone
        run_views = [(run, progress(run, zone)) for run in runs]

        def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
            rows, total = status.files(
                session, source=source or None, state=state or None, offset=offset, limit=limit
            )
            return [_file_view(r) for r in rows], total

        files, pager = fetch_page(Pager.parse(page, FILES_PAGE_SIZE), fetch)
        reports, reports_total = status.reports(session, offset=0, limit=REPORTS_SHOWN)
        report_views = [
            (report, status.largest_differences(report, DRIFTS_SHOWN)) for report in reports
        ]
        alerts, alerts_total = status.alerts(session, open_only=True, limit=ALERTS_SHOWN)
    notice = None
    if replayed.isdigit():
        notice = f"Arquivo nº {replayed} enviado para reprocessamento."
    context = {
        **_helpers(),
        "sources": sources,
        "backlog": backlog,
        "runs": run_views,
        "any_running": any(p["running"] for _, p in run_views),
        "poll_url": url(request, "console_sync_runs"),
        "poll_ms": POLL_INTERVAL_MS,
        "files": files,
        "pager": pager,
        "filter_source": source,
        "filter_state": state,
        "source_codes": [s.code for s in sources],
        "reports": report_views,
        "reports_total": reports_total,
        "alerts": alerts,
        "alerts_total": alerts_total,
        "notice": notice,
        "now": utcnow(),
    }
    return render(request, "sync/index.html", context, section="sync")


@router.get("/sync/runs.json", name="console_sync_runs")
async def runs_json(request: Request, ids: str = "") -> Response:
    """Progress of the running runs (and of the runs in ``ids``, to see them finish) for the
    page's poll; 401 when signed out."""
    if await run_in_threadpool(session_user, request) is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    wanted = [int(i) for i in ids.split(",")[:100] if i.strip().isdigit() and len(i) < 19]

    def load() -> list[dict[str, Any]]:
        with app_state(request).db.read() as session:
            zone = app_state(request).settings.console_time_zone
            return [progress(run, zone) for run in status.running_runs(session, wanted)]

    runs = await run_in_threadpool(load)
    return JSONResponse({"runs": runs}, headers={"Cache-Control": "no-store"})


def _file_context(request: Request, file_id: int, page: str) -> dict[str, Any] | None:
    with app_state(request).db.read() as session:
        try:
            row = status.get_file(session, file_id)
        except NotFound:
            return None
        view = _file_view(row)

        def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
            return status.rejects(session, file_id, offset=offset, limit=limit)

        rejects, pager = fetch_page(Pager.parse(page, REJECTS_PAGE_SIZE), fetch)
    return {**_helpers(), "file": view, "rejects": rejects, "pager": pager}


def _missing_file(request: Request, file_id: int) -> Response:
    return not_found(
        request, "Arquivo não encontrado", f"Não existe o arquivo nº {file_id} no registro."
    )


@router.get("/sync/files/{file_id}", name="console_sync_file")
def file_page(request: Request, file_id: int, _user: ConsoleUserDep, page: str = "") -> Response:
    """One file of the ledger: its counts, error, and the rows that were rejected."""
    context = _file_context(request, file_id, page)
    if context is None:
        return _missing_file(request, file_id)
    return render(request, "sync/file.html", context, section="sync")


@router.post("/sync/files/{file_id}/replay", name="console_sync_replay")
def replay(
    request: Request,
    file_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The "Reprocessar" button: hand a failed file back to ingestion and queue the task."""
    if not csrf_ok(request, csrf):
        message = "Sua sessão expirou. Recarregue a página e tente de novo."
        return _file_error(request, file_id, message, 400)

    def work(session: Any) -> None:
        status.mark_for_replay(session, file_id, Actor.user(user.id, user.name).seen_at(request))

    try:
        app_state(request).run_write(work)
    except NotFound:
        return _missing_file(request, file_id)
    except Conflict:
        message = "Este arquivo não pode ser reprocessado no estado atual."
        return _file_error(request, file_id, message, 409)
    return RedirectResponse(
        url(request, "console_sync", {"replayed": str(file_id)}), status_code=303
    )


def _file_error(request: Request, file_id: int, message: str, status_code: int) -> Response:
    context = _file_context(request, file_id, "")
    if context is None:
        return _missing_file(request, file_id)
    context["error"] = message
    return render(request, "sync/file.html", context, status_code=status_code, section="sync")
