"""The assistant's background job: purge conversations past their retention."""

from __future__ import annotations

import logging

from sincro.assistant import retention
from sincro.config import get_settings
from sincro.db import get_database
from sincro.tasks import task

log = logging.getLogger("sincro.assistant")


@task("sincro.assistant.purge", time_limit=300)
def purge() -> int:
    """Batches until none is left (each one transaction); how many conversations went."""
    settings = get_settings()
    db = get_database()
    purged = 0
    for _ in range(200):  # a bounded run; the next beat continues
        with db.write() as session:
            done = retention.purge(session, settings.assistant_retention_days)
        purged += done
        if done < retention.BATCH:
            break
    if purged:
        log.info("assistant conversations purged", extra={"purged": purged})
    return purged
