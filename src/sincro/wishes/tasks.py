"""The wish list's background job: read the change feed and send back-in-stock notices."""

from __future__ import annotations

import logging

from sincro import beat
from sincro.config import get_settings
from sincro.db import get_database
from sincro.tasks import task
from sincro.wishes import service
from sincro.wishes.schedule import TASK

log = logging.getLogger("sincro.wishes")


@task(TASK, time_limit=300)
def back_in_stock() -> int:
    """Batches of the change feed until caught up (each one transaction); how many notified."""
    settings = get_settings()
    db = get_database()
    notified = 0
    with db.read() as session:
        if not service.has_changes(session):
            return 0
    for _ in range(50):  # a bounded run; the next one continues
        with db.write() as session:
            run = service.process_changes(session, settings)
        notified += run.notified
        if run.events < settings.wishes_scan_batch:
            break
    if notified:
        log.info("back-in-stock notices", extra={"notified": notified})
    if not db.is_sqlite:  # beat sends it on commits there: still behind (a cut run, a hole)?
        with db.read() as session:
            behind = service.has_changes(session)
        if behind:
            beat.request_soon(db, TASK)
    return notified
