"""Celery beat entries of the connectors: the shared ones, and each source's from its plugin."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sincro.config import Settings, get_settings
from sincro.connectors import kinds
from sincro.connectors.config import ConnectorsConfig, load_config
from sincro.db import Database

if TYPE_CHECKING:
    from sincro.alerts_delivery import AlertChannels

log = logging.getLogger("sincro.connectors.schedule")


def alert_channels(config: ConnectorsConfig) -> AlertChannels:
    """Where every domain's alerts go: the connectors file's ``alerts:``."""
    from sincro.alerts_delivery import AlertChannels

    alerts = config.alerts
    return AlertChannels(webhook_url=alerts.slack_webhook_url, email_to=alerts.email_to)


def alerts_to_notify(db: Database, settings: Settings) -> bool:
    """The alert delivery's gate (:mod:`sincro.beat`): a channel configured (the file is read
    each time, as the task does) and an alert not yet notified. Without channels no query."""
    from sincro.alerts_delivery import has_work

    return has_work(settings, alert_channels(load_config(settings.connectors_file)), db)


def beat_entries(
    settings: Settings | None = None, config: ConnectorsConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Beat schedule entries: alert delivery every 30 s (sent only when an alert waits for a
    configured channel), the staleness check every minute, and what each active source's
    plugin asks for (its syncs, inbox scans and write-backs)."""
    entries: dict[str, dict[str, Any]] = {
        "connectors-notify-alerts": {
            "task": "sincro.connectors.notify_alerts",
            "schedule": 30.0,
            "gate": alerts_to_notify,
        },
        "connectors-check-staleness": {
            "task": "sincro.connectors.check_staleness",
            "schedule": 60.0,
        },
    }
    if config is None:
        try:
            config = load_config((settings or get_settings()).connectors_file)
        except Exception as exc:  # a bad file must not stop the worker from starting
            log.error("connectors file not loaded, no sync schedules: %s", exc)
            return entries
    entries.update(kinds.beat_entries(config))
    return entries
