"""Reports: checks the ranges asked for, reads the aggregates through the owning domains'
services (:mod:`sincro.customers.reporting`; campaign results from messaging when it is
installed), shapes them for the API, the console, CSV and e-mail, and keeps the schedules.

Services take the caller's session and never commit. Every output is an aggregate: no name,
document or e-mail of a customer appears in any report.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.config import Settings
from sincro.customers import reporting
from sincro.customers.reporting import BUCKETS, GRAINS, Billing, Defaulters, NewCustomers
from sincro.errors import InvalidInput, NotFound
from sincro.reports import repository as repo
from sincro.reports.models import ReportRun, ReportSchedule
from sincro.reports.schemas import (
    AgingOut,
    BillingMonthOut,
    BillingOut,
    DefaultersOut,
    NewCustomersOut,
    RegionSeries,
    ScheduleIn,
    ScheduleOut,
    StateDefaultersOut,
)

DEFAULT_DAYS = 30
DEFAULT_MONTHS = 12


def today(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """The operator's date now (``reports_time_zone``): every report's default "today"."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(ZoneInfo(settings.reports_time_zone)).date()


# --- ranges ----------------------------------------------------------------------------------


def new_customers_range(
    settings: Settings, start: dt.date | None, end: dt.date | None, grain: str
) -> tuple[dt.date, dt.date, str]:
    """The range to read: ``end`` defaults to today, ``start`` to 30 days before; at most
    ``reports_max_days`` days (and at most 400 bars at the daily grain)."""
    if grain not in GRAINS:
        raise InvalidInput("grain must be day, week or month", field="grain")
    end = end or today(settings)
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    _check_span(start, end, settings.reports_max_days)
    if grain == "day" and (end - start).days >= 400:
        raise InvalidInput(
            "a daily report covers at most 400 days; choose week or month", field="grain"
        )
    return start, end, grain


def billing_range(
    settings: Settings, start: dt.date | None, end: dt.date | None, as_of: dt.date | None
) -> tuple[dt.date, dt.date, dt.date]:
    """Months from ``start``'s to ``end``'s (default: the last 12 months), at most
    ``reports_max_months``; open receivables at the end of ``as_of`` (default today)."""
    now = today(settings)
    end = end or now
    start = start or _months_back(end, DEFAULT_MONTHS - 1)
    if start > end:
        raise InvalidInput("start must not be after end", field="start")
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if months > settings.reports_max_months:
        raise InvalidInput(
            f"at most {settings.reports_max_months} months per report (asked {months})",
            field="end",
        )
    return start, end, _as_of(as_of, now)


def defaulters_as_of(settings: Settings, as_of: dt.date | None) -> dt.date:
    return _as_of(as_of, today(settings))


def _as_of(as_of: dt.date | None, now: dt.date) -> dt.date:
    if as_of is None:
        return now
    if as_of > now:
        raise InvalidInput("as_of must not be in the future", field="as_of")
    if as_of < dt.date(2000, 1, 1):
        raise InvalidInput("as_of must be 2000-01-01 or later", field="as_of")
    return as_of


def _check_span(start: dt.date, end: dt.date, max_days: int) -> None:
    if start > end:
        raise InvalidInput("start must not be after end", field="start")
    days = (end - start).days + 1
    if days > max_days:
        raise InvalidInput(f"at most {max_days} days per report (asked {days})", field="end")


def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


# --- reading the reports ---------------------------------------------------------------------


def new_customers(session: Session, start: dt.date, end: dt.date, grain: str) -> NewCustomers:
    return reporting.new_customers(session, start, end, grain)


def defaulters(session: Session, settings: Settings, as_of: dt.date) -> Defaulters:
    return reporting.defaulters(session, as_of, settings.customers_defaulter_days)


def billing(session: Session, start: dt.date, end: dt.date, as_of: dt.date) -> Billing:
    return reporting.billing(session, start, end, as_of)


def new_customers_out(result: NewCustomers) -> NewCustomersOut:
    return NewCustomersOut(
        start=result.start,
        end=result.end,
        grain=result.grain,
        periods=result.period_keys,
        regions=[
            RegionSeries(name=name, counts=counts, total=sum(counts))
            for name, counts in result.by_region.items()
        ],
        states=[
            RegionSeries(name=name, counts=counts, total=sum(counts))
            for name, counts in result.by_state.items()
        ],
        total=result.total,
    )


def defaulters_out(result: Defaulters) -> DefaultersOut:
    def buckets(values: dict[str, reporting.Aging]) -> list[AgingOut]:
        return [
            AgingOut(bucket=name, titles=a.titles, customers=a.customers, amount=a.amount)
            for name, a in values.items()
        ]

    return DefaultersOut(
        as_of=result.as_of,
        grace_days=result.grace_days,
        customers=result.customers,
        defaulters=result.defaulters,
        titles=result.titles,
        amount=result.amount,
        buckets=buckets(result.totals),
        states=[
            StateDefaultersOut(
                state=s.state,
                region=s.region,
                customers=s.customers,
                defaulters=s.defaulters,
                titles=s.titles,
                amount=s.amount,
                buckets=buckets(s.buckets),
            )
            for s in result.states
        ],
    )


def billing_out(result: Billing) -> BillingOut:
    return BillingOut(
        start=result.start,
        end=result.end,
        as_of=result.as_of,
        months=[
            BillingMonthOut(
                month=m.key,
                invoiced_titles=m.invoiced_titles,
                invoiced=m.invoiced,
                received_titles=m.received_titles,
                received=m.received,
            )
            for m in result.months
        ],
        invoiced=result.invoiced,
        received=result.received,
        open_count=result.open_count,
        open_amount=result.open_amount,
        overdue_count=result.overdue_count,
        overdue_amount=result.overdue_amount,
        overdue_share=round(result.overdue_share, 4),
    )


# --- tables (CSV for machines and for people, e-mail attachments) ----------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """A report as rows: ``header`` for machines (English), ``header_pt`` for people."""

    name: str
    header: list[str]
    header_pt: list[str]
    rows: list[list[Any]]


def new_customers_table(result: NewCustomers) -> Table:
    """One row per period and UF with at least one new customer (long form)."""
    rows = [
        [key, state, reporting.region_of(state), count]
        for state, counts in result.by_state.items()
        for key, count in zip(result.period_keys, counts, strict=True)
        if count
    ]
    rows.sort(key=lambda r: (r[0], r[1]))
    return Table(
        f"novos-clientes-{result.start.isoformat()}-{result.end.isoformat()}",
        ["period", "state", "region", "new_customers"],
        ["Período", "UF", "Região", "Novos clientes"],
        rows,
    )


def defaulters_table(result: Defaulters) -> Table:
    """One row per UF: customers, defaulters, then titles and amount per aging bucket."""
    header = ["state", "region", "customers_overdue", "defaulters"]
    header_pt = ["UF", "Região", "Clientes com atraso", "Inadimplentes"]
    for name in BUCKETS:
        header += [f"titles_{name}", f"amount_{name}"]
        header_pt += [f"Títulos {name} dias", f"Valor {name} dias (R$)"]
    header += ["titles", "amount"]
    header_pt += ["Títulos", "Valor em atraso (R$)"]
    rows = []
    for s in result.states:
        row: list[Any] = [s.state, s.region, s.customers, s.defaulters]
        for name in BUCKETS:
            row += [s.buckets[name].titles, s.buckets[name].amount]
        rows.append([*row, s.titles, s.amount])
    return Table(f"inadimplencia-{result.as_of.isoformat()}", header, header_pt, rows)


def billing_table(result: Billing) -> Table:
    """One row per month: invoiced and received (titles, amount)."""
    return Table(
        f"faturamento-{result.start:%Y-%m}-{result.end:%Y-%m}",
        ["month", "invoiced_titles", "invoiced", "received_titles", "received"],
        ["Mês", "Títulos emitidos", "Faturado (R$)", "Títulos pagos", "Recebido (R$)"],
        [
            [m.key, m.invoiced_titles, m.invoiced, m.received_titles, m.received]
            for m in result.months
        ],
    )


# --- campaign results (from messaging, when it is installed) ---------------------------------


def campaign_results_source() -> Callable[..., Any] | None:
    """``sincro.messaging.service.campaign_results`` when the messaging domain provides it.

    Expected: ``campaign_results(session, *, start: date, end: date)`` returning a sequence
    of objects or mappings with ``campaign_id``, ``name``, ``sent``, ``failed``, ``bounced``,
    ``unsubscribed`` and optionally ``started_at``, ``finished_at`` and ``throughput``
    (``[(moment, messages), …]``)."""
    try:
        module = importlib.import_module("sincro.messaging.service")
    except ImportError:
        return None
    found = getattr(module, "campaign_results", None)
    return found if callable(found) else None


CAMPAIGN_FIELDS = ("campaign_id", "name", "sent", "failed", "bounced", "unsubscribed")


def campaign_results(session: Session, start: dt.date, end: dt.date) -> list[dict[str, Any]] | None:
    """Campaign results in the range as plain dicts, or None without the messaging domain."""
    source = campaign_results_source()
    if source is None:
        return None
    rows = []
    for item in source(session, start=start, end=end):
        get = (
            item.get if isinstance(item, dict) else lambda name, d=None, o=item: getattr(o, name, d)
        )
        row = {name: get(name) for name in CAMPAIGN_FIELDS}
        row["started_at"] = get("started_at")
        row["finished_at"] = get("finished_at")
        row["throughput"] = list(get("throughput", None) or [])
        rows.append(row)
    return rows


# --- schedules -------------------------------------------------------------------------------


def check_schedule(settings: Settings, data: ScheduleIn) -> None:
    if len(data.recipients) > settings.reports_max_recipients:
        raise InvalidInput(
            f"at most {settings.reports_max_recipients} recipients", field="recipients"
        )


def create_schedule(
    session: Session, settings: Settings, data: ScheduleIn, actor: Actor
) -> ReportSchedule:
    check_schedule(settings, data)
    row = ReportSchedule(
        report=data.report,
        params=data.params,
        recipients=data.recipients,
        cadence=data.cadence,
        hour=data.hour,
        weekday=data.weekday,
        day_of_month=data.day_of_month,
        active=True,
        created_by=(actor.label or actor.kind.value)[:120],
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "report_schedule.create",
        Entity("report_schedule", row.id),
        after={"report": row.report, "cadence": row.cadence, "recipients": len(row.recipients)},
    )
    return row


def delete_schedule(session: Session, schedule_id: int, actor: Actor) -> ReportSchedule:
    row = repo.schedule(session, schedule_id)
    if row is None:
        raise NotFound(f"no report schedule {schedule_id}", field="schedule_id")
    report = row.report
    repo.delete_schedule(session, schedule_id)
    audit.record(
        session,
        actor,
        "report_schedule.delete",
        Entity("report_schedule", schedule_id),
        before={"report": report},
    )
    return row


def get_schedule(session: Session, schedule_id: int) -> ReportSchedule:
    row = repo.schedule(session, schedule_id)
    if row is None:
        raise NotFound(f"no report schedule {schedule_id}", field="schedule_id")
    return row


def schedules(session: Session, reports: Sequence[str] | None = None) -> list[ScheduleOut]:
    """Every schedule (of ``reports`` only, when given) with its last run."""
    rows = [r for r in repo.schedules(session) if reports is None or r.report in reports]
    last = repo.last_runs(session, [r.id for r in rows])
    out = []
    for row in rows:
        item = ScheduleOut.model_validate(row)
        run = last.get(row.id)
        if run is not None:
            item.last_period, item.last_status = run.period, run.status
        out.append(item)
    return out


def runs(session: Session, schedule_id: int) -> list[ReportRun]:
    return repo.runs(session, schedule_id)


def due_period(schedule: ReportSchedule, local_now: dt.datetime) -> str | None:
    """The period a schedule owes an e-mail for at ``local_now`` (its local time), or None
    before this period's sending time: ``2026-12-06`` daily, ``2026-W49`` weekly (ISO week),
    ``2026-12`` monthly. A beat that was down at the hour still sends later in the period."""
    day = local_now.date()
    if schedule.cadence == "daily":
        slot, period = day, day.isoformat()
    elif schedule.cadence == "weekly":
        slot = day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=schedule.weekday)
        year, week, _ = day.isocalendar()
        period = f"{year}-W{week:02d}"
    elif schedule.cadence == "monthly":
        slot, period = day.replace(day=schedule.day_of_month), f"{day:%Y-%m}"
    else:
        return None
    if (local_now.date(), local_now.hour) < (slot, schedule.hour):
        return None
    return period
