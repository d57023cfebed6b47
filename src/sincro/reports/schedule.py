"""Beat entries of the reports domain (this module must not import the tasks)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Look for due report e-mails every ``reports_schedule_every_seconds`` (60 s)."""
    return {
        "reports-send-due": {
            "task": "sincro.reports.send_due",
            "schedule": settings.reports_schedule_every_seconds,
        }
    }
