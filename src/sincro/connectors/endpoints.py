"""HTTP API of the ERP sync (sources, runs, file ledger, rejects, replays, reports, alerts).

Reads for any API key; replaying a file needs an admin key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sincro.catalog.schemas import Page
from sincro.connectors import status
from sincro.deps import AdminKey, CurrentKey, Limit, Offset, StateDep, row_id_path

router = APIRouter(prefix="/v1/sync", tags=["sync"])

SourceCode = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$", description="Source code")
]
FileId = Annotated[int, row_id_path("File id")]


class SourceOut(BaseModel):
    source: str
    name: str
    kind: str
    active: bool
    status: str = Field(description="ok, degraded, down, stale or unknown")
    last_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    next_run_at: dt.datetime | None = Field(description="When known to the scheduler")
    data_as_of: dt.datetime | None
    data_age_seconds: int | None = Field(description="Now minus data_as_of")
    breaker: Literal["closed", "open", "half_open"] | None = Field(
        description="Circuit breaker state (null when not recorded in the database)"
    )
    breaker_failures: int | None
    last_error: str | None
    running: int = Field(description="Runs in progress")


class SourcesOut(BaseModel):
    items: list[SourceOut]


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    entity: str
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    records_in: int
    records_applied: int
    records_rejected: int
    progress_done: int
    progress_total: int | None
    progress_percent: float | None = None
    error: str | None


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    direction: str
    kind: str
    name: str
    size: int
    sha256: str
    state: str
    as_of: dt.datetime | None
    rows_total: int
    rows_applied: int
    rows_rejected: int
    next_line: int
    error: str | None
    received_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    replayable: bool = False


class RejectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    line: int | None
    record_key: str | None
    field: str | None
    rule: str
    value: str | None
    message: str
    created_at: dt.datetime


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    file_id: int | None
    as_of: dt.datetime
    positions: int
    positions_with_drift: int
    units_expected: int
    units_reported: int
    units_drift_abs: int
    largest: list[dict[str, Any]] = Field(description="Largest differences, by absolute drift")
    threshold_exceeded: bool
    created_at: dt.datetime


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    source: str | None
    severity: str
    message: str
    details: Any = None
    created_at: dt.datetime
    notified_at: dt.datetime | None
    resolved_at: dt.datetime | None


class ReplayOut(BaseModel):
    file: FileOut
    task: str


def run_out(run: Any) -> RunOut:
    out = RunOut.model_validate(run)
    if run.progress_total:
        out.progress_percent = round(min(100.0, 100.0 * run.progress_done / run.progress_total), 1)
    return out


def file_out(row: Any) -> FileOut:
    out = FileOut.model_validate(row)
    out.replayable = row.state in status.REPLAYABLE_STATES
    return out


def report_out(row: Any) -> ReportOut:
    out = ReportOut.model_validate(
        {**{c: getattr(row, c) for c in ReportOut.model_fields if c != "largest"}, "largest": []}
    )
    out.largest = status.largest_differences(row, count=50)
    return out


@router.get("/sources", response_model=SourcesOut)
def list_sources(state: StateDep, _key: CurrentKey) -> SourcesOut:
    """Every ERP source: health, last run and success, breaker, how old its data is."""
    config = status.configured(state.settings)
    with state.db.read() as session:
        rows = status.sources(session, config=config)
    return SourcesOut(
        items=[
            SourceOut(
                source=s.code,
                name=s.name,
                kind=s.kind,
                active=s.active,
                status=s.status,
                last_run_at=s.last_run_at,
                last_success_at=s.last_success_at,
                next_run_at=s.next_run_at,
                data_as_of=s.data_as_of,
                data_age_seconds=s.data_age_seconds,
                breaker=s.breaker,
                breaker_failures=s.breaker_failures,
                last_error=s.last_error,
                running=s.running,
            )
            for s in rows
        ]
    )


@router.get("/runs", response_model=Page[RunOut])
def list_runs(
    state: StateDep,
    _key: CurrentKey,
    source: SourceCode = None,
    run_status: Annotated[
        Literal["running", "succeeded", "partial", "failed"] | None, Query(alias="status")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[RunOut]:
    """Sync runs, newest first, with counts and progress."""
    with state.db.read() as session:
        rows, total = status.runs(
            session, source=source, status=run_status, offset=offset, limit=limit
        )
        items = [run_out(r) for r in rows]
    return Page[RunOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/files", response_model=Page[FileOut])
def list_files(
    state: StateDep,
    _key: CurrentKey,
    source: SourceCode = None,
    file_state: Annotated[str | None, Query(alias="state", pattern=r"^[a-z_]{1,12}$")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[FileOut]:
    """The file ledger, newest first."""
    with state.db.read() as session:
        rows, total = status.files(
            session, source=source, state=file_state, offset=offset, limit=limit
        )
        items = [file_out(r) for r in rows]
    return Page[FileOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/files/{file_id}/rejects", response_model=Page[RejectOut])
def list_rejects(
    file_id: FileId, state: StateDep, _key: CurrentKey, offset: Offset = 0, limit: Limit = 100
) -> Page[RejectOut]:
    """The rows of a file that were not applied: line, field, rule, value and message."""
    with state.db.read() as session:
        rows, total = status.rejects(session, file_id, offset=offset, limit=limit)
        items = [RejectOut.model_validate(r) for r in rows]
    return Page[RejectOut](items=items, total=total, offset=offset, limit=limit)


@router.post(
    "/files/{file_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    responses={404: {"description": "No such file"}, 409: {"description": "Not replayable"}},
)
def replay_file(file_id: FileId, request: Request, state: StateDep, key: AdminKey) -> JSONResponse:
    """Hand a failed (or quarantined) file back to ingestion (admin): its state becomes
    ``received`` and the ingest task is queued. 409 when the file is in any other state."""

    def work(session: Any) -> FileOut:
        row = status.mark_for_replay(session, file_id, key.actor(request))
        return file_out(row)

    out = state.run_write(work)
    body = ReplayOut(file=out, task=status.REPLAY_TASK)
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


@router.get("/reports", response_model=Page[ReportOut])
def list_reports(
    state: StateDep,
    _key: CurrentKey,
    source: SourceCode = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ReportOut]:
    """Reconciliation reports (ERP snapshot vs ledger), newest first."""
    with state.db.read() as session:
        rows, total = status.reports(session, source=source, offset=offset, limit=limit)
        items = [report_out(r) for r in rows]
    return Page[ReportOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    state: StateDep,
    _key: CurrentKey,
    open: Annotated[bool | None, Query(description="true: unresolved; false: resolved")] = None,
    source: SourceCode = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[AlertOut]:
    """Alerts, newest first."""
    with state.db.read() as session:
        rows, total = status.alerts(
            session, open_only=open, source=source, offset=offset, limit=limit
        )
        items = [AlertOut.model_validate(r) for r in rows]
    return Page[AlertOut](items=items, total=total, offset=offset, limit=limit)
