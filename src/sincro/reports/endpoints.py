"""HTTP API of the reports: new customers, defaulters and billing as JSON or CSV (``?format=
csv``: the machine form, ``,`` and dot decimals), and the report e-mail schedules.

Who reads what: admin keys everything; ``billing`` keys defaulters, billing and new
customers; ``marketing`` keys new customers. Aggregates only: no personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from sincro.access.service import Principal, Role
from sincro.console.export import csv_response
from sincro.deps import CurrentKey, StateDep, role, row_id_path
from sincro.errors import Forbidden
from sincro.reports import service
from sincro.reports.schemas import (
    REPORTS,
    BillingOut,
    DefaultersOut,
    NewCustomersOut,
    ScheduleIn,
    ScheduleOut,
    SchedulesOut,
    may_read,
)

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Format = Annotated[Literal["json", "csv"], Query(description="json, or csv for programs")]
Day = Annotated[dt.date | None, Query(description="A date, YYYY-MM-DD")]
NewCustomersKey = Annotated[Principal, Depends(role(Role.marketing, Role.billing))]
BillingKey = Annotated[Principal, Depends(role(Role.billing))]
ScheduleId = Annotated[int, row_id_path("Schedule id")]
CSV_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _csv(table: service.Table) -> StreamingResponse:
    return csv_response(table.name, table.header, table.rows, form="plain")


@router.get("/new-customers", response_model=NewCustomersOut, responses=CSV_TOO)
def new_customers(
    state: StateDep,
    _key: NewCustomersKey,
    start: Day = None,
    end: Day = None,
    grain: Annotated[Literal["day", "week", "month"], Query()] = "day",
    format: Format = "json",
) -> Any:
    """Primary customers by ``customer_since`` per period (day, ISO week, month) and per UF
    and macro-region. ``end`` defaults to today (``SINCRO_REPORTS_TIME_ZONE``), ``start`` to
    29 days before; at most ``SINCRO_REPORTS_MAX_DAYS`` days."""
    first, last, chosen = service.new_customers_range(state.settings, start, end, grain)
    with state.db.read() as session:
        result = service.new_customers(session, first, last, chosen)
    if format == "csv":
        return _csv(service.new_customers_table(result))
    return service.new_customers_out(result)


@router.get("/defaulters", response_model=DefaultersOut, responses=CSV_TOO)
def defaulters(
    state: StateDep, _key: BillingKey, as_of: Day = None, format: Format = "json"
) -> Any:
    """Receivables overdue at the end of ``as_of`` (default today; a past date is rebuilt
    from payment dates) per UF and aging bucket (1–30, 31–60, 61–90, 90+ days past due)."""
    day = service.defaulters_as_of(state.settings, as_of)
    with state.db.read() as session:
        result = service.defaulters(session, state.settings, day)
    if format == "csv":
        return _csv(service.defaulters_table(result))
    return service.defaulters_out(result)


@router.get("/billing", response_model=BillingOut, responses=CSV_TOO)
def billing(
    state: StateDep,
    _key: BillingKey,
    start: Day = None,
    end: Day = None,
    as_of: Day = None,
    format: Format = "json",
) -> Any:
    """Invoiced (by issue date) and received (by payment date) per month from ``start``'s
    month to ``end``'s (default: the last 12 months), and receivables open at the end of
    ``as_of`` (default today) with the overdue share."""
    first, last, day = service.billing_range(state.settings, start, end, as_of)
    with state.db.read() as session:
        result = service.billing(session, first, last, day)
    if format == "csv":
        return _csv(service.billing_table(result))
    return service.billing_out(result)


def _readable(key: Principal) -> list[str]:
    return [name for name in REPORTS if may_read(key.role.value, name)]


@router.get("/schedules", response_model=SchedulesOut)
def list_schedules(state: StateDep, key: CurrentKey) -> SchedulesOut:
    """The report e-mail schedules of the reports this key may read, with their last run."""
    readable = _readable(key)
    if not readable:
        raise Forbidden(f"this key has role {key.role.value}; reports need billing or marketing")
    with state.db.read() as session:
        return SchedulesOut(items=service.schedules(session, readable))


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
def create_schedule(
    state: StateDep, key: CurrentKey, body: ScheduleIn, request: Request
) -> ScheduleOut:
    """E-mail a report every day, week or month at a local hour (CSV attached)."""
    if not may_read(key.role.value, body.report):
        raise Forbidden(f"a {key.role.value} key may not read {body.report}", field="report")
    row = state.run_write(
        lambda s: service.create_schedule(s, state.settings, body, key.actor(request))
    )
    return ScheduleOut.model_validate(row)


@router.delete("/schedules/{schedule_id}", status_code=204)
def delete_schedule(
    state: StateDep, key: CurrentKey, schedule_id: ScheduleId, request: Request
) -> Response:
    """Stop a schedule (its past runs go with it)."""

    def work(session: Any) -> None:
        row = service.get_schedule(session, schedule_id)
        if not may_read(key.role.value, row.report):
            raise Forbidden(f"a {key.role.value} key may not read {row.report}")
        service.delete_schedule(session, schedule_id, key.actor(request))

    state.run_write(work)
    return Response(status_code=204)
