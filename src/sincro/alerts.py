"""Alerts: what people must know (a sync failing, a breaker open, stale data, a large drift,
later a forecast gone wrong or a campaign stuck), raised by any domain through this service.

An alert is recorded at once, in the caller's transaction (it exists exactly when what caused
it was committed), and delivered later by a task (:mod:`sincro.alerts_delivery`). A
``dedupe_key`` keeps one open alert per condition instead of one per occurrence;
:func:`resolve_alerts` closes it when the condition no longer holds.

A domain binds the service once with its name and the pt-BR labels of its kinds::

    ALERTS = DomainAlerts("connectors", {"sync_failed": "falha de sincronização"})
    ALERTS.raise_alert(session, "sync_failed", "…", source="protheus", severity="critical")

The raising domain is kept in ``details["domain"]`` (the table has no column for it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import JSON, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro.db import Base, UTCDateTime, utcnow

Severity = Literal["info", "warning", "critical"]
DOMAIN_KEY = "domain"
LABEL_KEY = "label"  # the kind's pt-BR label, kept with the alert for whoever delivers it


class Alert(Base):
    """Something people must know; ``source`` is where in its domain it happened (an ERP
    source code for the connectors)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "resolved_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))  # info|warning|critical
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JSON, nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def domain(self) -> str | None:
        """The domain that raised it."""
        return (self.details or {}).get(DOMAIN_KEY)

    @property
    def label(self) -> str:
        """The kind in pt-BR as its domain named it ("falha de sincronização")."""
        return str((self.details or {}).get(LABEL_KEY) or self.kind.replace("_", " "))


def resolve_alerts(session: Session, *dedupe_keys: str) -> int:
    """Close the open alerts of conditions that no longer hold; returns how many."""
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


@dataclass(frozen=True)
class DomainAlerts:
    """The alert service bound to one domain, with the pt-BR labels of the kinds it raises
    (delivery uses them for subjects: "falha de sincronização na origem protheus")."""

    domain: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def raise_alert(
        self,
        session: Session,
        kind: str,
        message: str,
        *,
        source: str | None = None,
        severity: Severity = "warning",
        details: Mapping[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> Alert:
        """Record an alert of this domain in the caller's transaction (or return the open one
        with the same ``dedupe_key``). Flushes, so the alert has its id."""
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
            details={
                **(details or {}),
                DOMAIN_KEY: self.domain,
                LABEL_KEY: self.labels.get(kind, kind.replace("_", " ")),
            },
            dedupe_key=dedupe_key,
            created_at=utcnow(),
        )
        session.add(alert)
        session.flush()
        return alert

    def resolve_alerts(self, session: Session, *dedupe_keys: str) -> int:
        """:func:`resolve_alerts` (dedupe keys name their condition, whatever the domain)."""
        return resolve_alerts(session, *dedupe_keys)
