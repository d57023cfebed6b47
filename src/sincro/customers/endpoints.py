"""Customers' HTTP API (admin keys): registration merged by document, search, detail, edits,
consent with evidence, the suppression list, receivables, CSV import, LGPD export and erasure.

``POST /v1/customers`` needs no Idempotency-Key: a retry finds the customer by document and
answers 200 with the same id (only the consent history gets the retry's evidence again).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from sincro import privacy
from sincro.console.export import csv_response, parse_form
from sincro.customers import jobs, repository as repo, service
from sincro.customers.exceptions import ImportNotFound
from sincro.customers.schemas import (
    UF_SET,
    BatchItemOut,
    Channel,
    ConsentChange,
    ConsentOut,
    CustomerBatchIn,
    CustomerBatchOut,
    CustomerDetail,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    CustomerRegistrationIn,
    ErasureIn,
    ErasureOut,
    ImportOut,
    ImportRejectOut,
    ImportResult,
    Purpose,
    ReceivablePage,
    SuppressionIn,
    SuppressionOut,
    SuppressionPage,
)
from sincro.customers.visibility import VIEWS
from sincro.deps import AdminKey, Limit, Offset, StateDep, row_id_path
from sincro.errors import InvalidInput, error_responses
from sincro.inputs import NO_CONTROL_PATTERN

router = APIRouter(prefix="/v1", tags=["customers"])

CustomerId = Annotated[int, row_id_path("Customer id")]
ImportId = Annotated[int, row_id_path("Import id")]
ADMIN = VIEWS["admin"]
REJECTS_IN_ANSWER = 100
REJECT_HEADER = ("linha", "coluna", "motivo", "valor")


@router.post(
    "/customers",
    status_code=201,
    response_model=CustomerOut,
    responses={200: {"model": CustomerOut, "description": "Joined the customer of the document"}},
)
def register_customer(
    body: CustomerRegistrationIn, state: StateDep, key: AdminKey, request: Request
) -> Response:
    """Register a customer (CPF or CNPJ with valid check digits). A document already known
    joins that customer (200): contact details given replace the old ones, blanks never
    erase. Consents given are recorded with their source and evidence."""
    actor = key.actor(request)
    grace = state.settings.customers_defaulter_days

    def work(session: Session) -> tuple[bool, CustomerOut]:
        registered = service.register(session, body, actor=actor)
        detail = service.customer_detail(session, registered.customer_id, ADMIN, grace_days=grace)
        return registered.created, CustomerOut.model_validate(detail.model_dump())

    created, out = state.run_write(work)
    return Response(
        out.model_dump_json(), status_code=201 if created else 200, media_type="application/json"
    )


@router.post("/customers/batch", response_model=CustomerBatchOut)
def register_customers(
    body: CustomerBatchIn, state: StateDep, key: AdminKey, request: Request
) -> CustomerBatchOut:
    """Register up to 1,000 customers in one transaction, all or none; each is merged by
    document as in ``POST /v1/customers`` (two entries of one document join each other)."""
    actor = key.actor(request)

    def work(session: Session) -> CustomerBatchOut:
        items = [
            BatchItemOut(**service.register(session, entry, actor=actor).model_dump())
            for entry in body.customers
        ]
        created = sum(1 for item in items if item.created)
        return CustomerBatchOut(items=items, created=created, joined=len(items) - created)

    return state.run_write(work)


@router.get("/customers", response_model=CustomerPage)
def search_customers(
    state: StateDep,
    _key: AdminKey,
    q: Annotated[
        str,
        Query(max_length=120, pattern=NO_CONTROL_PATTERN, description="Name, CPF/CNPJ or e-mail"),
    ] = "",
    state_uf: Annotated[str | None, Query(alias="state", pattern=r"^[A-Za-z]{2}$")] = None,
    plan: Annotated[str | None, Query(max_length=60, pattern=NO_CONTROL_PATTERN)] = None,
    defaulter: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CustomerPage:
    """Customers (merged records and erased ones left out), by name. ``q`` with ``@`` is an
    e-mail, with digits only a CPF/CNPJ (both from their start), else part of the name."""
    uf = state_uf.upper() if state_uf else None
    if uf is not None and uf not in UF_SET:
        raise InvalidInput("not a Brazilian UF", field="state")
    query = service.CustomerQuery(q=q, state=uf, plan=plan or None, defaulter=defaulter)
    with state.db.read() as session:
        items, total = service.search_customers(
            session,
            query,
            ADMIN,
            grace_days=state.settings.customers_defaulter_days,
            offset=(page - 1) * per_page,
            limit=per_page,
        )
    return CustomerPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/customers/{customer_id}", response_model=CustomerDetail)
def get_customer(customer_id: CustomerId, state: StateDep, _key: AdminKey) -> CustomerDetail:
    """A customer with consent state, consent history (with evidence), merged records and
    receivables (with days overdue in the customer's local time)."""
    with state.db.read() as session:
        return service.customer_detail(
            session, customer_id, ADMIN, grace_days=state.settings.customers_defaulter_days
        )


@router.patch(
    "/customers/{customer_id}", response_model=CustomerOut, responses=error_responses(409)
)
def patch_customer(
    customer_id: CustomerId, body: CustomerPatch, state: StateDep, key: AdminKey, request: Request
) -> CustomerOut:
    """Change the fields sent; ``null`` clears a contact field. An erased customer is 409."""
    actor = key.actor(request)
    grace = state.settings.customers_defaulter_days

    def work(session: Session) -> CustomerOut:
        service.update_customer(session, customer_id, body, actor=actor)
        detail = service.customer_detail(session, customer_id, ADMIN, grace_days=grace)
        return CustomerOut.model_validate(detail.model_dump())

    return state.run_write(work)


@router.put(
    "/customers/{customer_id}/consents/{channel}/{purpose}",
    response_model=ConsentOut,
    responses=error_responses(409),
)
def put_consent(
    customer_id: CustomerId,
    channel: Channel,
    purpose: Purpose,
    body: ConsentChange,
    state: StateDep,
    key: AdminKey,
    request: Request,
) -> ConsentOut:
    """Give or withdraw consent for one channel and purpose, with its source and evidence
    (kept in the history). Purposes are separate: refusing offers never stops billing."""
    actor = key.actor(request)

    def work(session: Session) -> ConsentOut:
        consent = service.change_consent(session, customer_id, channel, purpose, body, actor=actor)
        return ConsentOut.model_validate(consent)

    return state.run_write(work)


@router.get("/customers/{customer_id}/receivables", response_model=ReceivablePage)
def customer_receivables(
    customer_id: CustomerId, state: StateDep, _key: AdminKey
) -> ReceivablePage:
    """The customer's receivables (and its merged records'), newest due date first."""
    with state.db.read() as session:
        items = service.customer_receivables(session, customer_id)
    return ReceivablePage(items=items, total=len(items))


@router.get("/customers/{customer_id}/export", response_model=dict[str, Any])
def export_customer(
    customer_id: CustomerId, state: StateDep, key: AdminKey, request: Request
) -> dict[str, Any]:
    """LGPD: everything Sincro keeps about the person, by domain (audited)."""
    actor = key.actor(request)

    def work(session: Session) -> dict[str, Any]:
        service.get_customer(session, customer_id)
        return {
            "customer_id": customer_id,
            "sections": privacy.export_customer(session, customer_id, actor),
        }

    return state.run_write(work)


@router.post("/customers/{customer_id}/erase", response_model=ErasureOut)
def erase_customer(
    customer_id: CustomerId, body: ErasureIn, state: StateDep, key: AdminKey, request: Request
) -> ErasureOut:
    """LGPD: erase the person (and the records merged into it) everywhere; what billing must
    keep stays, anonymized. Needs a reason; audited; repeating it is harmless."""
    actor = key.actor(request)

    def work(session: Session) -> ErasureOut:
        customer = service.get_customer(session, customer_id)
        already = customer.erased_at is not None
        counts = privacy.erase_customer(session, customer_id, actor, body.reason)
        session.refresh(customer)
        assert customer.erased_at is not None
        return ErasureOut(
            customer_id=customer_id,
            erased_at=customer.erased_at,
            already_erased=already,
            counts=counts,
        )

    return state.run_write(work)


# --- CSV import ------------------------------------------------------------------------------


def import_result(session: Session, import_id: int) -> ImportResult:
    record = repo.get_import(session, import_id)
    if record is None:
        raise ImportNotFound(import_id)
    rejects = repo.import_rejects(session, import_id, REJECTS_IN_ANSWER)
    return ImportResult(
        **ImportOut.model_validate(record).model_dump(),
        rejects=[ImportRejectOut.model_validate(r) for r in rejects],
    )


IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "CSV: pt-BR Excel form or plain",
                    }
                },
            }
        }
    },
}


async def uploaded_file(request: Request, limit: int) -> tuple[str, bytes]:
    """The ``file`` part of a multipart body (name, bytes); anything else is a 422 on
    ``file`` (a malformed body is not the server's fault, nor a 400 the API documents)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send the CSV as multipart/form-data, part 'file'", field="file")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (HTTPException, MultiPartException, ValueError) as exc:
        raise InvalidInput("malformed multipart body", field="file") from exc
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload):
        raise InvalidInput("the part 'file' with the CSV is missing", field="file")
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise InvalidInput("the file is larger than the import limit", field="file")
    return upload.filename or "arquivo.csv", raw


@router.post(
    "/customers/import",
    status_code=202,
    response_model=ImportResult,
    responses=error_responses(413),
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_customers(
    request: Request, response: Response, state: StateDep, key: AdminKey, dry_run: bool = False
) -> ImportResult:
    """Queue an import of customers from a CSV (``;`` + dd/mm/aaaa or ``,`` + ISO dates;
    UTF-8 or Windows-1252; pt-BR or English headers) for the ``imports`` workers: 202 with
    the import ``queued`` and its ``Location``; follow it at
    ``/v1/customers/imports/{id}`` (``running``, then ``done`` or ``failed``). A file that
    cannot be read at all (encoding, header, required columns) is a 422 on ``file`` and
    nothing is stored. Bad lines are refused with line, column and reason (all in
    ``/v1/customers/imports/{id}/rejects``); good ones are applied in atomic batches, merged
    by document. ``dry_run`` only validates."""
    name, raw = await uploaded_file(request, state.settings.customers_import_max_bytes)

    def work() -> ImportResult:
        import_id = jobs.submit(
            state.db, state.settings, name, raw, dry_run=dry_run, actor=key.name
        )
        with state.db.read() as session:
            return import_result(session, import_id)

    result = await run_in_threadpool(work)
    response.headers["Location"] = str(request.url_for("get_import", import_id=result.id))
    return result


@router.get("/customers/imports/{import_id}", response_model=ImportResult)
def get_import(import_id: ImportId, state: StateDep, _key: AdminKey) -> ImportResult:
    """An import's progress and counts (committed after every batch) and its first rejects."""
    with state.db.read() as session:
        return import_result(session, import_id)


@router.get(
    "/customers/imports/{import_id}/rejects",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The reject report"}},
)
def import_rejects(
    import_id: ImportId,
    state: StateDep,
    _key: AdminKey,
    formato: Annotated[str, Query(pattern=r"^(planilha|dados)?$")] = "",
) -> StreamingResponse:
    """The reject report as CSV: line, column, reason, value (personal values masked; cells
    a spreadsheet would run as formulas defused). ``formato=dados`` for plain CSV."""
    with state.db.read() as session:
        if repo.get_import(session, import_id) is None:
            raise ImportNotFound(import_id)
        rows = [
            (r.line, r.column, r.reason, r.value) for r in repo.import_rejects(session, import_id)
        ]
    return csv_response(
        f"rejeitados-importacao-{import_id}", REJECT_HEADER, rows, parse_form(formato)
    )


# --- suppression list ------------------------------------------------------------------------


@router.get("/suppressions", response_model=SuppressionPage)
def list_suppressions(
    state: StateDep,
    _key: AdminKey,
    email: Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL_PATTERN)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> SuppressionPage:
    """Addresses that must not get mail (for one purpose, or ``*`` for all), newest first;
    ``email`` filters from the start of the address."""
    with state.db.read() as session:
        items, total = service.list_suppressions(session, email, offset=offset, limit=limit)
    return SuppressionPage(items=items, total=total, offset=offset, limit=limit)


@router.post("/suppressions", status_code=201, response_model=SuppressionOut)
def add_suppression(
    body: SuppressionIn, state: StateDep, key: AdminKey, request: Request
) -> SuppressionOut:
    """Stop mail to an address for a purpose (``*``: every purpose); audited."""
    actor = key.actor(request)
    return state.run_write(lambda s: service.add_suppression(s, body, actor=actor))


@router.delete("/suppressions/{suppression_id}", status_code=204)
def delete_suppression(
    suppression_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    state: StateDep,
    key: AdminKey,
    request: Request,
) -> Response:
    """Let mail reach the address again for that purpose; audited."""
    actor = key.actor(request)
    state.run_write(lambda s: service.remove_suppression(s, suppression_id, actor=actor))
    return Response(status_code=204)
