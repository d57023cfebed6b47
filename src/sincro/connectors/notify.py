"""Delivery of alerts: a Slack-compatible incoming webhook (``{"text": ...}``) and e-mail
(SMTP at ``settings.smtp_url``), in pt-BR with dates as dd/mm/aaaa.

An alert is marked ``notified_at`` only once every configured channel has taken it; channels
that already succeeded are remembered in ``details["delivered"]`` so a retry next round does not
repeat them. Texts are scrubbed of anything shaped like a CPF, CNPJ or e-mail address.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from sqlalchemy import select

from sincro.config import Settings
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import Alert
from sincro.db import Database, get_database, utcnow
from sincro.text_pt import datetime_br, scrub

log = logging.getLogger("sincro.connectors.notify")
SEVERITY = {"critical": "CRÍTICO", "warning": "Atenção", "info": "Informação"}
KIND = {
    "breaker_open": "disjuntor aberto",
    "source_down": "origem indisponível",
    "sync_failed": "falha de sincronização",
    "stale_source": "dados desatualizados",
    "writeback_failed": "falha no envio ao ERP",
    "drift": "divergência de estoque",
}


def alert_subject(alert: Alert) -> str:
    kind = KIND.get(alert.kind, alert.kind.replace("_", " "))
    origin = f" na origem {alert.source}" if alert.source else ""
    return scrub(f"[Sincro] {SEVERITY.get(alert.severity, alert.severity)}: {kind}{origin}")


def alert_text(alert: Alert) -> str:
    lines = [
        f"{alert_subject(alert)}",
        alert.message,
        f"Registrado em {datetime_br(alert.created_at)} (horário de Brasília).",
    ]
    if alert.resolved_at is not None:
        lines.append(f"Já resolvido em {datetime_br(alert.resolved_at)}.")
    return scrub("\n".join(lines))


@dataclass
class DeliveryReport:
    notified: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def _smtp_send(smtp_url: str, messages: list[EmailMessage]) -> None:
    parts = urlsplit(smtp_url)
    host, port = parts.hostname or "localhost", parts.port
    options = parse_qs(parts.query)
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port or 465, timeout=15, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, port or 25, timeout=15)
    with client:
        if options.get("starttls", ["0"])[0] in ("1", "true"):
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        for message in messages:
            client.send_message(message)


def _email(settings: Settings, recipients: list[str], alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert_subject(alert)
    message["From"] = settings.alert_from
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="sincro")
    body = alert_text(alert) + "\n\n— Sincro, central de integração de estoque\n"
    message.set_content(body, charset="utf-8")
    return message


def deliver_alerts(
    settings: Settings, config: ConnectorsConfig, db: Database | None = None, limit: int = 100
) -> DeliveryReport:
    """Send the alerts not yet notified through every configured channel."""
    db = db or get_database(settings.database_url)
    webhook = config.alerts.slack_webhook_url
    recipients = config.alerts.email_to if settings.smtp_url else []
    channels = [c for c, on in (("webhook", webhook), ("email", recipients)) if on]
    report = DeliveryReport()
    if not channels:
        return report
    with db.read() as session:
        alerts = session.scalars(
            select(Alert).where(Alert.notified_at.is_(None)).order_by(Alert.id).limit(limit)
        ).all()
    for alert in alerts:
        done = set((alert.details or {}).get("delivered", []))
        errors = []
        if "webhook" in channels and "webhook" not in done:
            try:
                response = httpx.post(webhook or "", json={"text": alert_text(alert)}, timeout=10)
                response.raise_for_status()
                done.add("webhook")
            except httpx.HTTPError as exc:
                errors.append(f"webhook: {type(exc).__name__}")
        if "email" in channels and "email" not in done:
            try:
                _smtp_send(settings.smtp_url, [_email(settings, recipients, alert)])
                done.add("email")
            except (OSError, smtplib.SMTPException) as exc:
                errors.append(f"email: {type(exc).__name__}")
        _record(db, alert.id, done, complete=set(channels) <= done)
        if errors:
            report.failed[alert.id] = "; ".join(errors)
            log.warning("alert %s not fully delivered (%s); retried next round", alert.id, errors)
        else:
            report.notified.append(alert.id)
    return report


def _record(db: Database, alert_id: int, done: set[str], complete: bool) -> None:
    with db.write() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return
        alert.details = {**(alert.details or {}), "delivered": sorted(done)}
        if complete:
            alert.notified_at = utcnow()
