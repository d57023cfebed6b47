"""Beat entries of the reports domain (this module must not import the tasks)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings
from sincro.db import Database, utcnow


def reports_due(db: Database, settings: Settings) -> bool:
    """The sending task's gate (:mod:`sincro.beat`): is an active schedule's period past its
    sending time? (Without schedules, an idle minute sends no task.)"""
    from sincro.reports.sending import due_schedules

    return bool(due_schedules(db, settings, utcnow()))


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Look for due report e-mails every ``reports_schedule_every_seconds`` (60 s), sent to a
    worker only when one is due."""
    return {
        "reports-send-due": {
            "task": "sincro.reports.send_due",
            "schedule": settings.reports_schedule_every_seconds,
            "gate": reports_due,
        }
    }
