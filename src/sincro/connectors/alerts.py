"""Alerts: recorded in the database at once (same transaction as what caused them), notified
later by a task (Slack-compatible webhook and e-mail). A ``dedupe_key`` keeps one open alert
per condition instead of one per occurrence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.connectors.models import Alert
from sincro.db import utcnow


def raise_alert(
    session: Session,
    kind: str,
    message: str,
    *,
    source: str | None = None,
    severity: str = "warning",
    details: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Alert:
    """Record an alert (or return the open one with the same ``dedupe_key``)."""
    if dedupe_key:
        existing = session.scalar(
            select(Alert).where(Alert.dedupe_key == dedupe_key, Alert.resolved_at.is_(None))
        )
        if existing is not None:
            return existing
    alert = Alert(
        kind=kind,
        source=source,
        severity=severity,
        message=message,
        details=details,
        dedupe_key=dedupe_key,
        created_at=utcnow(),
    )
    session.add(alert)
    session.flush()
    return alert


def resolve_alerts(session: Session, *dedupe_keys: str) -> int:
    """Close the open alerts of conditions that no longer hold."""
    closed = 0
    keys = list(dedupe_keys)
    for start in range(0, len(keys), 1000):
        rows = session.scalars(
            select(Alert).where(
                Alert.dedupe_key.in_(keys[start : start + 1000]), Alert.resolved_at.is_(None)
            )
        ).all()
        for alert in rows:
            alert.resolved_at = utcnow()
        closed += len(rows)
    return closed
