"""The ERP file backlog: files received and not yet applied, per source, and the alert raised
when it grows past ``SINCRO_CONNECTORS_BACKLOG_MAX_FILES`` files or its oldest file is older
than ``SINCRO_CONNECTORS_BACKLOG_MAX_AGE_SECONDS`` (checked every minute with staleness)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.config import Settings
from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import ErpFile, FileState
from sincro.db import utcnow

WAITING = (FileState.received.value, FileState.processing.value)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Files of one source waiting to be applied, and whether that is past the limits."""

    source: str
    waiting: int
    oldest_received_at: dt.datetime
    oldest_age_seconds: int
    growing: bool


def file_backlog(
    session: Session, settings: Settings, now: dt.datetime | None = None
) -> list[Backlog]:
    """Per source with incoming files waiting: how many, the oldest one's age, and whether
    either is past the settings' limits (one grouped query)."""
    now = now or utcnow()
    rows = session.execute(
        select(ErpFile.source, func.count(), func.min(ErpFile.received_at))
        .where(ErpFile.direction == "in", ErpFile.state.in_(WAITING))
        .group_by(ErpFile.source)
        .order_by(ErpFile.source)
    ).all()
    found = []
    for source, waiting, oldest in rows:
        age = max(0, int((now - oldest).total_seconds()))
        growing = (
            waiting > settings.connectors_backlog_max_files
            or age > settings.connectors_backlog_max_age_seconds
        )
        found.append(Backlog(source, int(waiting), oldest, age, growing))
    return found


def check_backlog(
    session: Session, settings: Settings, config: ConnectorsConfig, now: dt.datetime | None = None
) -> list[str]:
    """Raise a ``file_backlog`` alert for each source whose backlog is past the limits and
    resolve it for the others; returns the codes alerted."""
    growing = {b.source: b for b in file_backlog(session, settings, now) if b.growing}
    for source in config.sources:
        if source.code not in growing:
            resolve_alerts(session, f"file_backlog:{source.code}")
    for code, backlog in growing.items():
        raise_alert(
            session,
            "file_backlog",
            f"Origem {code}: {backlog.waiting} arquivo(s) aguardando processamento; o mais "
            f"antigo chegou há {backlog.oldest_age_seconds // 60} min.",
            source=code,
            severity="warning",
            details={"waiting": backlog.waiting, "oldest_age_seconds": backlog.oldest_age_seconds},
            dedupe_key=f"file_backlog:{code}",
        )
    return sorted(growing)
