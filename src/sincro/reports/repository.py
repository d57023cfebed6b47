"""All SQL of the reports domain: schedules and their runs (the aggregations themselves live
with the data they read, in :mod:`sincro.customers.reporting_repository`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.reports.models import ReportRun, ReportSchedule


def schedules(session: Session, *, active_only: bool = False) -> list[ReportSchedule]:
    query = select(ReportSchedule).order_by(ReportSchedule.id)
    if active_only:
        query = query.where(ReportSchedule.active.is_(True))
    return list(session.scalars(query))


def schedule(session: Session, schedule_id: int) -> ReportSchedule | None:
    return session.get(ReportSchedule, schedule_id)


def delete_schedule(session: Session, schedule_id: int) -> bool:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ReportSchedule).where(ReportSchedule.id == schedule_id)
    )
    return bool(result.rowcount)


def last_runs(session: Session, schedule_ids: list[int]) -> dict[int, ReportRun]:
    """The latest run of each schedule."""
    if not schedule_ids:
        return {}
    latest = (
        select(ReportRun.schedule_id, ReportRun.id)
        .where(ReportRun.schedule_id.in_(schedule_ids))
        .order_by(ReportRun.schedule_id, ReportRun.id.desc())
    )
    wanted: dict[int, int] = {}
    for schedule_id, run_id in session.execute(latest):
        wanted.setdefault(schedule_id, run_id)
    runs = session.scalars(select(ReportRun).where(ReportRun.id.in_(list(wanted.values()))))
    return {run.schedule_id: run for run in runs}


def insert_claim(session: Session, schedule_id: int, period: str, now: dt.datetime) -> int | None:
    """Insert the (schedule, period) run; its id, or None when the pair is already there.
    ``ON CONFLICT DO NOTHING``: a racing twin waits for the first insert's transaction and
    then inserts nothing (PostgreSQL), or runs after it (SQLite's single writer)."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(ReportRun)
        .values(
            schedule_id=schedule_id,
            period=period,
            status="sending",
            attempts=1,
            detail="",
            claimed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "period"])
        .returning(ReportRun.id)
    )
    return session.scalar(stmt)


def reclaim(
    session: Session,
    schedule_id: int,
    period: str,
    now: dt.datetime,
    *,
    stale_before: dt.datetime,
    retry_before: dt.datetime,
    max_attempts: int,
) -> int | None:
    """Take over a run that failed for a temporary reason (after ``retry_before``) or whose
    sender vanished mid-way (``sending`` since before ``stale_before``). A conditional update:
    one taker wins."""
    stmt = (
        update(ReportRun)
        .where(
            ReportRun.schedule_id == schedule_id,
            ReportRun.period == period,
            ReportRun.attempts < max_attempts,
            or_(
                and_(ReportRun.status == "retry", ReportRun.claimed_at < retry_before),
                and_(ReportRun.status == "sending", ReportRun.claimed_at < stale_before),
            ),
        )
        .values(status="sending", claimed_at=now, attempts=ReportRun.attempts + 1)
        .returning(ReportRun.id)
    )
    return session.scalar(stmt)


def finish(session: Session, run_id: int, status: str, detail: str, now: dt.datetime) -> None:
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id)
        .values(status=status, detail=detail[:300], finished_at=now)
    )


def runs(session: Session, schedule_id: int, limit: int = 20) -> list[ReportRun]:
    return list(
        session.scalars(
            select(ReportRun)
            .where(ReportRun.schedule_id == schedule_id)
            .order_by(ReportRun.id.desc())
            .limit(limit)
        )
    )
