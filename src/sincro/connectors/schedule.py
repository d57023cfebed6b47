"""Celery beat entries of the connectors: the shared ones, and each source's from its plugin."""

from __future__ import annotations

import logging
from typing import Any

from sincro.config import Settings, get_settings
from sincro.connectors import kinds
from sincro.connectors.config import ConnectorsConfig, load_config

log = logging.getLogger("sincro.connectors.schedule")


def beat_entries(
    settings: Settings | None = None, config: ConnectorsConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Beat schedule entries: alert delivery every 30 s, the staleness check every minute, and
    what each active source's plugin asks for (its syncs, inbox scans and write-backs)."""
    entries: dict[str, dict[str, Any]] = {
        "connectors-notify-alerts": {"task": "sincro.connectors.notify_alerts", "schedule": 30.0},
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
