"""The assistant's beat entries: the assignment round of waiting conversations, the
retention purge and, with channels configured, the sweep of undelivered channel replies."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {
        "assistant-purge": {
            "task": "sincro.assistant.purge",
            "schedule": settings.assistant_purge_every_seconds,
        }
    }
    if settings.assistant_auto_assign:
        entries["assistant-assign"] = {
            "task": "sincro.assistant.assign",
            "schedule": settings.assistant_assign_every_seconds,
        }
    if settings.assistant_channels:
        entries["assistant-channel-redeliver"] = {
            "task": "sincro.assistant.redeliver_replies",
            "schedule": settings.assistant_channel_redeliver_every_seconds,
        }
    return entries
