"""What the console and the API show about the ERP sync: read-only queries over the tables the
connectors fill (sources, runs, the file ledger, rejects, breakers, reports, alerts).

The one write is :func:`mark_for_replay`, which only hands a failed file back to the ingest
task (the caller sends the task after the commit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from sincro.alerts import Alert
from sincro.audit import Actor
from sincro.config import Settings
from sincro.connectors.base import cron
from sincro.connectors.config import ConnectorsConfig, load_config
from sincro.connectors.models import (
    BreakerState,
    ErpFile,
    FileState,
    ReconciliationReport,
    SyncReject,
    SyncRun,
    SyncSource,
)
from sincro.db import utcnow
from sincro.errors import NotFound, SincroError

# A file whose processing failed can be handed back; "quarantined" is accepted too, for
# connectors that set aside files that parse but fail validation as a whole.
REPLAYABLE_STATES = (FileState.failed.value,)
REPLAY_TASK = "sincro.connectors.ingest.process_file"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    code: str
    name: str
    kind: str
    active: bool
    status: str
    last_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    next_run_at: dt.datetime | None
    data_as_of: dt.datetime | None
    data_age_seconds: int | None
    breaker: str | None  # closed | open | half_open; None when not recorded here
    breaker_failures: int | None
    last_error: str | None
    running: int  # runs in progress


def configured(settings: Settings) -> ConnectorsConfig | None:
    """The connectors file as configured (or as ``sincro demo`` recorded it); None when it
    does not load (the pages then show no next runs rather than fail)."""
    try:
        return load_config(settings.connectors_file)
    except SincroError:
        return None


def next_runs(config: ConnectorsConfig, now: dt.datetime) -> dict[str, dt.datetime]:
    """When each active source with a cron schedule runs next (the others run on events)."""
    found = {}
    for source in config.sources:
        schedule = getattr(source, "schedule", None)
        if schedule and source.active:
            found[source.code] = now + cron(schedule).remaining_estimate(now)
    return found


def sources(
    session: Session,
    now: dt.datetime | None = None,
    config: ConnectorsConfig | None = None,
) -> list[SourceStatus]:
    """Every configured source with its health, breaker and the age of its data; with the
    connectors ``config``, its next scheduled run."""
    now = now or utcnow()
    upcoming = next_runs(config, now) if config is not None else {}
    breakers = {b.source: b for b in session.scalars(select(BreakerState))}
    running = dict(
        session.execute(
            select(SyncRun.source, func.count())
            .where(SyncRun.status == "running")
            .group_by(SyncRun.source)
        ).all()
    )
    result = []
    for src in session.scalars(select(SyncSource).order_by(SyncSource.code)):
        breaker = breakers.get(src.code)
        age = None
        if src.data_as_of is not None:
            age = max(0, int((now - src.data_as_of).total_seconds()))
        result.append(
            SourceStatus(
                code=src.code,
                name=src.name,
                kind=src.kind,
                active=src.active,
                status=src.status,
                last_run_at=src.last_run_at,
                last_success_at=src.last_success_at,
                next_run_at=upcoming.get(src.code),
                data_as_of=src.data_as_of,
                data_age_seconds=age,
                breaker=breaker.state if breaker else None,
                breaker_failures=breaker.failures if breaker else None,
                last_error=src.last_error,
                running=int(running.get(src.code, 0)),
            )
        )
    return result


def _page(
    session: Session, query: Select[Any], order: Sequence[Any], offset: int, limit: int
) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order).offset(offset).limit(limit)).all()
    return list(rows), int(total)


def runs(
    session: Session,
    *,
    source: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[SyncRun], int]:
    """Sync runs, newest first."""
    query = select(SyncRun)
    if source:
        query = query.where(SyncRun.source == source)
    if status:
        query = query.where(SyncRun.status == status)
    return _page(session, query, (SyncRun.started_at.desc(), SyncRun.id.desc()), offset, limit)


def running_runs(session: Session, ids: Sequence[int] = ()) -> list[SyncRun]:
    """Runs in progress, plus the given ones whatever their state (to see them finish)."""
    condition = SyncRun.status == "running"
    if ids:
        condition = condition | SyncRun.id.in_(list(ids))
    query = select(SyncRun).where(condition).order_by(SyncRun.started_at.desc()).limit(200)
    return list(session.scalars(query))


def files(
    session: Session,
    *,
    source: str | None = None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ErpFile], int]:
    """The file ledger, newest first."""
    query = select(ErpFile)
    if source:
        query = query.where(ErpFile.source == source)
    if state:
        query = query.where(ErpFile.state == state)
    return _page(session, query, (ErpFile.received_at.desc(), ErpFile.id.desc()), offset, limit)


def get_file(session: Session, file_id: int) -> ErpFile:
    found = session.get(ErpFile, file_id)
    if found is None:
        raise NotFound(f"no file {file_id} in the ledger", field="id")
    return found


def rejects(
    session: Session, file_id: int, *, offset: int = 0, limit: int = 100
) -> tuple[list[SyncReject], int]:
    """The rows of a file that were not applied, by line."""
    get_file(session, file_id)
    query = select(SyncReject).where(SyncReject.file_id == file_id)
    return _page(session, query, (SyncReject.line, SyncReject.id), offset, limit)


def reports(
    session: Session, *, source: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[ReconciliationReport], int]:
    """Reconciliation (drift) reports, newest first."""
    query = select(ReconciliationReport)
    if source:
        query = query.where(ReconciliationReport.source == source)
    order = (ReconciliationReport.as_of.desc(), ReconciliationReport.id.desc())
    return _page(session, query, order, offset, limit)


def largest_differences(report: ReconciliationReport, count: int = 10) -> list[dict[str, Any]]:
    """The report's largest drifts (by absolute units), at most ``count``."""
    entries = [e for e in (report.largest or []) if isinstance(e, dict)]

    def size(entry: dict[str, Any]) -> float:
        try:
            return abs(float(entry.get("drift") or 0))
        except (TypeError, ValueError):
            return 0.0

    return sorted(entries, key=size, reverse=True)[:count]


def alerts(
    session: Session,
    *,
    open_only: bool | None = None,
    source: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Alert], int]:
    """Alerts, newest first; ``open_only`` True: unresolved only, False: resolved only."""
    query = select(Alert)
    if open_only is True:
        query = query.where(Alert.resolved_at.is_(None))
    elif open_only is False:
        query = query.where(Alert.resolved_at.is_not(None))
    if source:
        query = query.where(Alert.source == source)
    return _page(session, query, (Alert.created_at.desc(), Alert.id.desc()), offset, limit)


def mark_for_replay(session: Session, file_id: int, actor: Actor) -> ErpFile:
    """Hand a failed file back to ingestion (its quarantined copy is moved back to the inbox
    when the inbox holds none) and queue it after the commit: the SAP file service does it,
    and writes the ``sync.replay`` audit entry for ``actor``."""
    from sincro.connectors.sap_files.service import replay_file

    get_file(session, file_id)  # 404 for an unknown id
    return replay_file(session, file_id, actor=actor)
