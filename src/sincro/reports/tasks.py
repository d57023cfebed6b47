"""Celery tasks of the reports domain."""

from __future__ import annotations

from sincro.config import get_settings
from sincro.db import database_for
from sincro.reports.sending import send_due
from sincro.tasks import task


@task("sincro.reports.send_due", time_limit=300, max_retries=2)
def send_due_reports() -> int:
    """Send the scheduled reports that are due (each schedule once per period)."""
    settings = get_settings()
    return len(send_due(database_for(settings), settings))
