"""The assistant's beat entry: the retention purge."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "assistant-purge": {
            "task": "sincro.assistant.purge",
            "schedule": settings.assistant_purge_every_seconds,
        }
    }
