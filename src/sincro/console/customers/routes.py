"""The console's "Clientes" pages: search (UF, plano, inadimplente; CSV export), a customer's
page (identity, consent per channel and purpose with its evidence, receivables with days
overdue in the customer's local time, messages sent when messaging is installed, LGPD
export and erasure) and the CSV import (upload queued for the ``imports`` workers, its state
and progress, reject report).

What each role sees is decided once, by :mod:`sincro.customers.visibility`; import, edits,
export and erasure are for admins.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from sincro import privacy
from sincro.audit import Actor
from sincro.console.export import csv_response, parse_form
from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import (
    ConsoleUserDep,
    Pager,
    SessionUser,
    app_state,
    csrf_ok,
    not_found,
    render,
    url,
)
from sincro.customers import jobs, repository as repo, service
from sincro.customers.exceptions import CustomerNotFound, UnreadableFile
from sincro.customers.schemas import UF_SET, UFS, CustomerDetail
from sincro.customers.visibility import View, view_for
from sincro.db import utcnow
from sincro.errors import Forbidden, SincroError
from sincro.text_pt import format_cnpj, format_cpf


def _messaging_service() -> Any:
    """Messaging's service when that domain is installed (the "mensagens enviadas" section
    shows only then), else None."""
    try:
        return importlib.import_module("sincro.messaging.service")
    except ImportError:
        return None


messaging: Any = _messaging_service()

log = logging.getLogger("sincro.console.customers")
router = APIRouter(prefix="/console", include_in_schema=False)

SECTION = "customers"
EXPORT_MAX_ROWS = 50_000
REJECTS_SHOWN = 200
PURPOSE_LABELS = {"billing": "Cobrança", "service": "Serviço", "marketing": "Ofertas"}
CHANNEL_LABELS = {"email": "E-mail", "sms": "SMS", "whatsapp": "WhatsApp", "chat": "Chat"}
STATUS_LABELS = {"open": "Em aberto", "paid": "Pago", "cancelled": "Cancelado"}
IMPORT_STATUS = {
    "queued": "Na fila",
    "running": "Em andamento",
    "done": "Concluída",
    "failed": "Falhou",
}
SOURCE_LABELS = {
    "api": "API",
    "csv": "Importação CSV",
    "console": "Console",
    "erp": "ERP",
    "signup-mail": "Cadastro por e-mail",
    "unsubscribe": "Descadastro",
}
DEFAULTER_CHOICES = {"sim": True, "nao": False}
CSV_HEADER = ("id", "nome", "documento", "email", "telefone", "cidade", "uf", "plano",
              "cliente_desde", "inadimplente", "dias_em_atraso")  # fmt: skip


def shown_document(document: str | None) -> str:
    """A document for people: ``529.982.247-25`` / ``11.222.333/0001-81``; masked ones as
    they are."""
    if not document:
        return "—"
    if document.isdigit() and len(document) == 11:
        return format_cpf(document)
    if document.isdigit() and len(document) == 14:
        return format_cnpj(document)
    return document


def _view(user: SessionUser) -> View:
    view = view_for(user.role)
    if view is None:
        raise Forbidden("this role may not see customers")
    return view


def _forbidden(request: Request) -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403)


def _query(request: Request) -> tuple[service.CustomerQuery, dict[str, str], list[str]]:
    params = request.query_params
    q = params.get("q", "").strip()[:120]
    uf = params.get("uf", "").strip().upper()[:2]
    plan = params.get("plano", "").strip()[:60]
    defaulter = params.get("inadimplente", "")
    errors = []
    if uf and uf not in UF_SET:
        errors.append("UF: escolha uma UF da lista.")
        uf = ""
    if any(ord(c) < 32 for c in q + plan):
        errors.append("Busca: caracteres inválidos.")
        q = plan = ""
    form = {"q": q, "uf": uf, "plano": plan, "inadimplente": defaulter}
    query = service.CustomerQuery(
        q=q, state=uf or None, plan=plan or None, defaulter=DEFAULTER_CHOICES.get(defaulter)
    )
    return query, form, errors


@router.get("/customers", name="console_customers")
def customers_page(request: Request, user: ConsoleUserDep, page: str = "") -> Response:
    """Search by name, CPF/CNPJ or e-mail, with filters and pagination."""
    view = view_for(user.role)
    if view is None:
        return render(request, "error.html", {"status": 403}, status_code=403, section=SECTION)
    query, form, errors = _query(request)
    state = app_state(request)
    pager = Pager.parse(page, state.settings.customers_page_size)
    grace = state.settings.customers_defaulter_days
    rows: Any = ()
    if not errors:
        try:
            with state.db.read() as session:
                rows, pager = fetch_page(
                    pager,
                    lambda offset, limit: service.search_customers(
                        session, query, view, grace_days=grace, offset=offset, limit=limit
                    ),
                )
        except Forbidden:
            errors.append("Seu perfil não pode buscar por CPF/CNPJ ou e-mail; busque pelo nome.")
    context = {
        "form": form,
        "rows": rows,
        "pager": pager,
        "errors": errors,
        "ufs": UFS,
        "view": view,
        "grace_days": grace,
        "doc": shown_document,
    }
    return render(request, "customers/index.html", context, section=SECTION)


@router.get("/customers.csv", name="console_customers_csv")
def customers_csv(request: Request, user: ConsoleUserDep, formato: str = "") -> Response:
    """The filtered search as CSV (at most 50,000 rows), masked as the role sees it."""
    view = view_for(user.role)
    query, _, errors = _query(request)
    if view is None or errors:
        return _forbidden(request) if view is None else customers_page(request, user)
    state = app_state(request)
    grace = state.settings.customers_defaulter_days
    try:
        with state.db.read() as session:
            rows, _ = service.search_customers(
                session, query, view, grace_days=grace, offset=0, limit=EXPORT_MAX_ROWS
            )
    except Forbidden:
        return _forbidden(request)
    lines = [
        (
            c.id,
            c.name,
            c.document,
            c.email,
            c.phone,
            c.city,
            c.state,
            c.plan,
            c.customer_since,
            c.defaulter,
            c.days_overdue,
        )
        for c in rows
    ]
    return csv_response("clientes", CSV_HEADER, lines, parse_form(formato))


# --- CSV import ------------------------------------------------------------------------------


@router.get("/customers/import", name="console_customers_import")
def import_page(request: Request, user: ConsoleUserDep) -> Response:
    """Upload a CSV; the recent imports with their state."""
    if not _view_or_none(user).manage:
        return _forbidden(request)
    with app_state(request).db.read() as session:
        recent = repo.recent_imports(session, 20)
    context = {"recent": recent, "status_labels": IMPORT_STATUS, "error": None}
    return render(request, "customers/import.html", context, section=SECTION)


def _view_or_none(user: SessionUser) -> View:
    return view_for(user.role) or View(user.role, False, False, False, False, False, False)


@router.post("/customers/import", name="console_customers_import_submit")
def import_submit(
    request: Request,
    user: ConsoleUserDep,
    file: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form(max_length=200)] = "",
    simular: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Store the upload with a queued import for the ``imports`` workers and go to its page
    (it refreshes itself while the import is queued or running)."""
    if not _view_or_none(user).manage:
        return _forbidden(request)
    state = app_state(request)
    limit = state.settings.customers_import_max_bytes
    error = None
    raw = b""
    if not csrf_ok(request, csrf):
        error = "Sua sessão expirou. Recarregue a página e tente de novo."
    elif file is None or not file.filename:
        error = "Escolha um arquivo CSV."
    else:
        raw = file.file.read(limit + 1)
        if len(raw) > limit:
            error = f"Arquivo grande demais (máximo {limit // 1_000_000} MB)."
        elif not raw.strip():
            error = "O arquivo está vazio."
    import_id = 0
    if error is None:
        assert file is not None
        try:
            import_id = jobs.submit(
                state.db,
                state.settings,
                file.filename or "",
                raw,
                dry_run=simular == "sim",
                actor=user.name,
            )
        except UnreadableFile as exc:
            error = unreadable_pt(exc.message)
    if error is not None:
        with state.db.read() as session:
            recent = repo.recent_imports(session, 20)
        context = {"recent": recent, "status_labels": IMPORT_STATUS, "error": error}
        return render(request, "customers/import.html", context, status_code=400, section=SECTION)
    return RedirectResponse(
        url(request, "console_customer_import", import_id=import_id), status_code=303
    )


UNREADABLE_PT = (
    ("the file is empty", "O arquivo está vazio (não há linha de cabeçalho)."),
    ("the header line is unreadable", "A linha de cabeçalho não pôde ser lida."),
    ("required columns missing", "Faltam colunas obrigatórias no cabeçalho: {rest}."),
    (
        "the file is neither",
        "O arquivo não está em UTF-8 nem em Windows-1252: salve como CSV UTF-8.",
    ),
)
FAILURE_PT = (
    ("abandoned", "nenhum worker concluiu a importação a tempo; o arquivo enviado foi apagado. "
     "Envie o arquivo de novo."),
    ("interrupted", "o worker parou em todas as tentativas. Os lotes já gravados ficam; envie "
     "o arquivo de novo (as linhas são unificadas pelo CPF/CNPJ)."),
)  # fmt: skip


def unreadable_pt(message: str) -> str:
    """An unreadable file's reason for people (the API keeps the English one)."""
    for start, text in UNREADABLE_PT:
        if message.startswith(start):
            return text.format(rest=message.partition(": ")[2])
    return message


def failure_pt(error: str) -> str:
    """Why an import failed, in pt-BR."""
    for start, text in FAILURE_PT:
        if error.startswith(start):
            return text
    if error and error[0].isupper() and " " not in error:
        return f"erro interno ({error}). Os lotes já gravados ficam; envie o arquivo de novo."
    return unreadable_pt(error)


@router.get("/customers/imports/{import_id}", name="console_customer_import")
def import_status(request: Request, import_id: int, user: ConsoleUserDep) -> Response:
    """An import's state (na fila, em andamento, concluída, falhou), its progress (the page
    refreshes itself until it ends) and its rejects."""
    if not _view_or_none(user).manage:
        return _forbidden(request)
    with app_state(request).db.read() as session:
        record = repo.get_import(session, import_id) if 1 <= import_id <= 2**31 - 1 else None
        rejects = repo.import_rejects(session, import_id, REJECTS_SHOWN) if record else []
        resumable = repo.has_upload(session, import_id) if record else False
    if record is None:
        return not_found(request, "Importação não encontrada", f"Não há importação nº {import_id}.")
    percent = 100 if record.status in ("done", "failed") else 0
    if record.status == "running" and record.total_lines:
        percent = int(100 * record.processed_lines / record.total_lines)
    context = {
        "imp": record,
        "rejects": rejects,
        "percent": percent,
        "status_labels": IMPORT_STATUS,
        "shown": REJECTS_SHOWN,
        "interrupted": record.interrupted(utcnow()),
        "resumable": resumable,
        "failure": failure_pt(record.error) if record.status == "failed" else "",
        "live": record.status in ("queued", "running"),
    }
    return render(request, "customers/import_status.html", context, section=SECTION)


@router.get("/customers/imports/{import_id}/rejeitados.csv", name="console_customer_import_csv")
def import_rejects_csv(
    request: Request, import_id: int, user: ConsoleUserDep, formato: str = ""
) -> Response:
    """The whole reject report (line, column, reason, value) as CSV."""
    if not _view_or_none(user).manage:
        return _forbidden(request)
    with app_state(request).db.read() as session:
        record = repo.get_import(session, import_id) if 1 <= import_id <= 2**31 - 1 else None
        rows = list(_reject_rows(session, import_id)) if record else []
    if record is None:
        return not_found(request, "Importação não encontrada", f"Não há importação nº {import_id}.")
    header = ("linha", "coluna", "motivo", "valor")
    return csv_response(f"rejeitados-{record.file_name}", header, rows, parse_form(formato))


def _reject_rows(session: Any, import_id: int) -> Iterator[tuple[Any, ...]]:
    for r in repo.import_rejects(session, import_id):
        yield (r.line, r.column, r.reason, r.value)


# --- one customer ---------------------------------------------------------------------------


def messages_of(session: Any, customer_id: int) -> list[dict[str, Any]] | None:
    """The messages sent to a customer when messaging is installed (None: no section)."""
    finder = getattr(messaging, "messages_for_customer", None) if messaging else None
    if finder is None:
        return None
    try:
        found = finder(session, customer_id)
    except SincroError:
        log.warning("messages of a customer could not be read", exc_info=True)
        return []
    return [_as_dict(item) for item in found]


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if hasattr(item, "model_dump"):
        return dict(item.model_dump())
    if hasattr(item, "_asdict"):
        return dict(item._asdict())
    return {k: v for k, v in vars(item).items() if not k.startswith("_")}


def _detail(request: Request, customer_id: int, view: View) -> CustomerDetail | None:
    state = app_state(request)
    with state.db.read() as session:
        try:
            return service.customer_detail(
                session, customer_id, view, grace_days=state.settings.customers_defaulter_days
            )
        except CustomerNotFound:
            return None


@router.get("/customers/{customer_id}", name="console_customer")
def customer_page(
    request: Request, customer_id: int, user: ConsoleUserDep, apagado: str = ""
) -> Response:
    """One customer: identity, consent with evidence, receivables, messages, LGPD actions."""
    view = view_for(user.role)
    if view is None:
        return render(request, "error.html", {"status": 403}, status_code=403, section=SECTION)
    if not 1 <= customer_id <= 2**31 - 1:
        return not_found(request, "Cliente não encontrado", f"Não há cliente nº {customer_id}.")
    detail = _detail(request, customer_id, view)
    if detail is None:
        return not_found(request, "Cliente não encontrado", f"Não há cliente nº {customer_id}.")
    with app_state(request).db.read() as session:
        messages = messages_of(session, detail.id)
    context = {
        "c": detail,
        "view": view,
        "messages": messages,
        "purpose_labels": PURPOSE_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "status_labels": STATUS_LABELS,
        "source_labels": SOURCE_LABELS,
        "erased_notice": bool(apagado),
        "doc": shown_document,
        "grace_days": app_state(request).settings.customers_defaulter_days,
    }
    return render(request, "customers/detail.html", context, section=SECTION)


@router.get("/customers/{customer_id}/export.json", name="console_customer_export")
def customer_export(request: Request, customer_id: int, user: ConsoleUserDep) -> Response:
    """LGPD export as a JSON download (admins; audited)."""
    if not _view(user).manage:
        return _forbidden(request)
    actor = Actor.user(user.id, user.name).seen_at(request)

    def work(session: Any) -> dict[str, Any]:
        service.get_customer(session, customer_id)
        return privacy.export_customer(session, customer_id, actor)

    try:
        sections = app_state(request).run_write(work)
    except CustomerNotFound:
        return not_found(request, "Cliente não encontrado", f"Não há cliente nº {customer_id}.")
    body = json.dumps(
        {"customer_id": customer_id, "sections": sections}, ensure_ascii=False, indent=2
    )
    name = f"cliente-{customer_id}-dados.json"
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/customers/{customer_id}/erase", name="console_customer_erase")
def customer_erase(
    request: Request,
    customer_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """LGPD erasure (admins): needs the reason and the confirmation box; audited."""
    view = _view(user)
    if not view.manage:
        return _forbidden(request)
    detail = _detail(request, customer_id, view)
    if detail is None:
        return not_found(request, "Cliente não encontrado", f"Não há cliente nº {customer_id}.")
    reason = "".join(ch for ch in reason if ch >= " ").strip()
    error = None
    if not csrf_ok(request, csrf):
        error = "Sua sessão expirou. Recarregue a página e tente de novo."
    elif len(reason) < 3:
        error = "Informe o motivo da remoção (ex.: número da solicitação do titular)."
    elif confirm != "sim":
        error = "Marque a confirmação: a remoção não pode ser desfeita."
    if error is not None:
        context = {
            "c": detail,
            "view": view,
            "messages": None,
            "purpose_labels": PURPOSE_LABELS,
            "channel_labels": CHANNEL_LABELS,
            "status_labels": STATUS_LABELS,
            "source_labels": SOURCE_LABELS,
            "erase_error": error,
            "doc": shown_document,
            "reason": reason,
            "grace_days": app_state(request).settings.customers_defaulter_days,
        }
        return render(request, "customers/detail.html", context, status_code=400, section=SECTION)
    actor = Actor.user(user.id, user.name).seen_at(request)
    app_state(request).run_write(
        lambda session: privacy.erase_customer(session, customer_id, actor, reason)
    )
    return RedirectResponse(
        url(request, "console_customer", {"apagado": "1"}, customer_id=customer_id),
        status_code=303,
    )
