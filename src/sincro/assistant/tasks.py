"""The assistant's background job: hand waiting conversations to present agents."""

from __future__ import annotations

import logging

from sincro.assistant import agents
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
