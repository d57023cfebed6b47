"""Automation's beat entry (this module does not import the tasks)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "automation-run": {
            "task": "sincro.automation.run",
            "schedule": settings.automation_every_seconds,
        }
    }
