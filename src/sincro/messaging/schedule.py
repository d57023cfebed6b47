"""Messaging's beat entries (this module does not import the tasks)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {
        "messaging-tick": {
            "task": "sincro.messaging.tick",
            "schedule": settings.messaging_tick_seconds,
        },
    }
    if settings.messaging_bounce_imap_url:
        entries["messaging-bounces"] = {"task": "sincro.messaging.bounces", "schedule": 60.0}
    return entries
