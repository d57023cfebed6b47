"""Delivery of alerts: a Slack-compatible incoming webhook (``{"text": ...}``) and e-mail
(through :mod:`sincro.mail`, one SMTP connection for the whole round), in pt-BR with dates as
dd/mm/aaaa in Brasília time.

An alert is marked ``notified_at`` once every configured channel has taken it; channels that
already succeeded are remembered in ``details["delivered"]`` so the next round does not repeat
them. A channel that failed for good (an SMTP 5xx: a mailbox that does not exist, content
refused) is not retried: it is kept in ``details["undeliverable"]`` and counts as done.
Texts are scrubbed of anything shaped like a CPF, CNPJ, e-mail address or phone number.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select

from sincro.alerts import Alert
from sincro.config import Settings
from sincro.db import Database, database_for, utcnow
from sincro.mail import Delivery, Mailer, SendResult, SmtpSettings, build_message
from sincro.text_pt import datetime_br, scrub

log = logging.getLogger("sincro.alerts")
SEVERITY = {"critical": "CRÍTICO", "warning": "Atenção", "info": "Informação"}
SIGNATURE = "\n\n— Sincro, central de integração de estoque\n"


class AlertChannels(BaseModel):
    """Where alerts go: a Slack-compatible webhook and e-mail recipients (e-mail needs
    ``SINCRO_SMTP_URL`` too)."""

    model_config = ConfigDict(frozen=True)

    webhook_url: str | None = None
    email_to: list[str] = Field(default_factory=list)


@dataclass
class DeliveryReport:
    notified: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def alert_subject(alert: Alert, labels: Mapping[str, str]) -> str:
    """``[Sincro] CRÍTICO: falha de sincronização na origem protheus`` (scrubbed)."""
    kind = labels.get(alert.kind, alert.label)
    origin = f" na origem {alert.source}" if alert.source else ""
    return scrub(f"[Sincro] {SEVERITY.get(alert.severity, alert.severity)}: {kind}{origin}")


def alert_text(alert: Alert, labels: Mapping[str, str]) -> str:
    """Subject, message and when it happened (and was resolved), scrubbed."""
    lines = [
        alert_subject(alert, labels),
        alert.message,
        f"Registrado em {datetime_br(alert.created_at)} (horário de Brasília).",
    ]
    if alert.resolved_at is not None:
        lines.append(f"Já resolvido em {datetime_br(alert.resolved_at)}.")
    return scrub("\n".join(lines))


@dataclass
class _Round:
    """One delivery round: the channels, the kind labels and the open SMTP connection."""

    channels: AlertChannels
    labels: Mapping[str, str]
    mailer: Mailer | None
    sender: str

    @property
    def names(self) -> list[str]:
        wanted = (("webhook", self.channels.webhook_url), ("email", self.mailer))
        return [name for name, on in wanted if on]

    def post(self, alert: Alert) -> str | None:
        """Send to the webhook; an error text when it failed."""
        try:
            body = {"text": alert_text(alert, self.labels)}
            response = httpx.post(self.channels.webhook_url or "", json=body, timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return f"webhook: {type(exc).__name__}"
        return None

    def mail(self, alert: Alert) -> SendResult:
        assert self.mailer is not None
        message = build_message(
            sender=self.sender,
            to=self.channels.email_to,
            subject=alert_subject(alert, self.labels),
            text=alert_text(alert, self.labels) + SIGNATURE,
        )
        return self.mailer.send(message)


def deliver_alerts(
    settings: Settings,
    channels: AlertChannels,
    labels: Mapping[str, str],
    db: Database | None = None,
    limit: int = 100,
    tls_context: ssl.SSLContext | None = None,
) -> DeliveryReport:
    """Send the alerts not yet notified through every configured channel; each alert carries
    its kind's pt-BR label from the domain that raised it, ``labels`` may override them."""
    db = db or database_for(settings)
    smtp = _smtp(settings, channels)
    mailer = Mailer(smtp, tls_context) if smtp else None
    round_ = _Round(channels, labels, mailer, smtp.sender if smtp else settings.alert_from)
    report = DeliveryReport()
    if not round_.names:
        return report
    with db.read() as session:
        alerts = session.scalars(_waiting().order_by(Alert.id).limit(limit)).all()
    try:
        for alert in alerts:
            _deliver(db, round_, alert, report)
    finally:
        if mailer is not None:
            mailer.close()
    return report


def has_work(settings: Settings, channels: AlertChannels, db: Database | None = None) -> bool:
    """Would :func:`deliver_alerts` send anything: a channel is configured (e-mail needs
    SMTP) and an alert waits for it? (The delivery task's gate in beat.)"""
    if not (channels.webhook_url or _smtp(settings, channels)):
        return False
    with (db or database_for(settings)).read() as session:
        return session.scalar(_waiting().with_only_columns(Alert.id).limit(1)) is not None


def _smtp(settings: Settings, channels: AlertChannels) -> SmtpSettings | None:
    return SmtpSettings.from_settings(settings) if channels.email_to else None


def _waiting() -> Select[Alert]:
    return select(Alert).where(Alert.notified_at.is_(None))


def _deliver(db: Database, round_: _Round, alert: Alert, report: DeliveryReport) -> None:
    details = alert.details or {}
    done = set(details.get("delivered", []))
    undeliverable: dict[str, str] = dict(details.get("undeliverable", {}))
    errors = []
    if "webhook" in round_.names and "webhook" not in done:
        error = round_.post(alert)
        if error is None:
            done.add("webhook")
        else:
            errors.append(error)
    if "email" in round_.names and "email" not in done | undeliverable.keys():
        result = round_.mail(alert)
        if result.ok:
            done.add("email")
        else:
            reason = scrub(f"{result.delivery} {result.code or ''} {result.detail}")
            errors.append(f"email: {reason}")
            if result.delivery is Delivery.PERMANENT:
                undeliverable["email"] = reason
    finished = set(round_.names) <= done | undeliverable.keys()
    _record(db, alert.id, done, undeliverable, complete=finished)
    if errors:
        report.failed[alert.id] = "; ".join(errors)
        log.warning("alert %s not fully delivered (%s)", alert.id, errors)
    else:
        report.notified.append(alert.id)


def _record(
    db: Database, alert_id: int, done: set[str], undeliverable: dict[str, str], complete: bool
) -> None:
    with db.write() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return
        details = {**(alert.details or {}), "delivered": sorted(done)}
        if undeliverable:
            details["undeliverable"] = undeliverable
        alert.details = details
        if complete:
            alert.notified_at = utcnow()
