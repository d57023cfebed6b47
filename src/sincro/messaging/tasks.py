"""Messaging's Celery tasks: ``send_batch`` on ``email`` (the workers you scale),
``orchestrate`` and ``tick`` on ``messaging`` (planning never waits behind sends)."""

from __future__ import annotations

import time

from sincro.messaging.sender import Sender
from sincro.tasks import task

_sender: Sender | None = None


def worker_sender() -> Sender:
    """This process's sender (its SMTP connection is reused across batches)."""
    global _sender
    if _sender is None:
        from sincro.config import get_settings
        from sincro.db import database_for
        from sincro.sharedstate import shared_state_from_settings

        settings = get_settings()
        db = database_for(settings)
        _sender = Sender(db, settings, shared_state_from_settings(settings, db))
    return _sender


@task("sincro.messaging.send_batch", time_limit=900)
def send_batch(campaign_id: int, ids: list[int], enqueued: float | None = None) -> dict[str, int]:
    """Claim and send what is still pending among ``ids`` (idempotent: rows already claimed
    or finished are skipped)."""
    from sincro.messaging import metrics

    if enqueued:
        metrics.QUEUE_LAG.observe(max(0.0, time.time() - enqueued))
    result = worker_sender().run_batch(campaign_id, ids)
    return {"sent": result.sent, "failed": result.failed, "retried": result.retried}


@task("sincro.messaging.orchestrate", time_limit=3600)
def orchestrate(campaign_id: int) -> int:
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import orchestrator

    settings = get_settings()
    return orchestrator.orchestrate(database_for(settings), settings, campaign_id)


@task("sincro.messaging.tick", time_limit=300)
def tick() -> dict[str, int]:
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import orchestrator

    settings = get_settings()
    return orchestrator.tick(database_for(settings), settings)


@task("sincro.messaging.bounces", time_limit=300)
def bounces() -> int:
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import bounces as bounce_box

    settings = get_settings()
    if not settings.messaging_bounce_imap_url:
        return 0
    return bounce_box.read_mailbox(database_for(settings), settings)
