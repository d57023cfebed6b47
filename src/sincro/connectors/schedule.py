"""Celery beat entries for the configured connectors (cron per source or per entity)."""

from __future__ import annotations

import logging
from typing import Any

from celery.schedules import crontab

from sincro.config import Settings, get_settings
from sincro.connectors.config import ConnectorsConfig, load_config
from sincro.connectors.sap_files.schedule import beat_entries as sap_beat_entries

log = logging.getLogger("sincro.connectors.schedule")
WRITEBACK_SECONDS = 30.0


def cron(expression: str) -> crontab:
    """A celery crontab from a 5-field cron expression."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def beat_entries(
    settings: Settings | None = None, config: ConnectorsConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Beat schedule entries: one per source schedule and per entity schedule, the REST
    write-backs, alert delivery every 30 s and the staleness check every minute."""
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
    entries.update(
        sap_beat_entries(s.code for s in config.sources if s.active and s.kind == "sap_files")
    )
    for source in config.sources:
        if not source.active or source.kind not in ("protheus_rest", "json_rest"):
            continue
        schedule = getattr(source, "schedule", None)
        if schedule:
            entries[f"sync-{source.code}"] = {
                "task": "sincro.connectors.sync_source",
                "schedule": cron(schedule),
                "args": (source.code, "schedule"),
            }
        for entity in getattr(source, "entities", []):
            if entity.active and entity.schedule:
                entries[f"sync-{source.code}-{entity.name}"] = {
                    "task": "sincro.connectors.sync_entity",
                    "schedule": cron(entity.schedule),
                    "args": (source.code, entity.name, "schedule"),
                }
        if getattr(source, "writeback_path", None):
            entries[f"writeback-{source.code}"] = {
                "task": "sincro.connectors.rest_writeback",
                "schedule": WRITEBACK_SECONDS,
                "args": (source.code,),
            }
    return entries
