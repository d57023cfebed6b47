"""Customers' Celery tasks: a CSV import's run on the ``imports`` queue, and the sweep that
sends lost or interrupted imports again (on ``default``, so it runs even where no worker
takes ``imports``). See :mod:`sincro.customers.jobs`."""

from __future__ import annotations

from sincro.config import get_settings
from sincro.customers import jobs
from sincro.db import database_for
from sincro.tasks import task
from sincro.worker import TRANSIENT_ERRORS


# a 32 MB file is about 280,000 lines: minutes on a loaded machine, never an hour
@task(jobs.TASK, time_limit=3600, max_retries=3)
def run_import(import_id: int) -> str:
    """Run one import from its cursor (does nothing when it is finished or held)."""
    settings = get_settings()
    result = jobs.run_import(database_for(settings), settings, import_id, keep_on=TRANSIENT_ERRORS)
    return result.state


@task("sincro.customers.sweep_imports", time_limit=300)
def sweep_imports() -> dict[str, int]:
    settings = get_settings()
    result = jobs.sweep(database_for(settings), settings)
    return {"sent": len(result.sent), "abandoned": len(result.abandoned)}
