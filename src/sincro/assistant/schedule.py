"""The assistant's beat entry: the assignment round of waiting conversations."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    if not settings.assistant_auto_assign:
        return {}
    return {
        "assistant-assign": {
            "task": "sincro.assistant.assign",
            "schedule": settings.assistant_assign_every_seconds,
        }
    }
