"""The assistant's background jobs: hand waiting conversations to present agents; purge
conversations past their retention."""

from __future__ import annotations

import logging

from sincro.assistant import agents, retention
from sincro.config import get_settings
from sincro.db import get_database
from sincro.tasks import task

log = logging.getLogger("sincro.assistant")


@task("sincro.assistant.assign", time_limit=60)
def assign() -> int:
    """One assignment round (``SINCRO_ASSISTANT_AUTO_ASSIGN``); how many were handed over."""
    settings = get_settings()
    if not settings.assistant_auto_assign:
        return 0
    db = get_database()
    with db.read() as session:
        if not agents.waiting(session, limit=1):
            return 0
    handed = db.write_retrying(lambda session: agents.assign_waiting(session, settings))
    if handed:
        log.info("conversations assigned", extra={"assigned": len(handed)})
    return len(handed)


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
