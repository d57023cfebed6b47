"""Billing's background job: the dunning run (beat, every ``billing_dunning_every_seconds``)."""

from __future__ import annotations

import logging

from sincro.billing import service
from sincro.config import get_settings
from sincro.db import get_database, utcnow
from sincro.tasks import task

log = logging.getLogger("sincro.billing")


@task("sincro.billing.dunning", time_limit=900)
def dunning() -> dict[str, int]:
    """Every page of dunning candidates: read and decide, make the artifacts, then one short
    write transaction per page records the steps and hands the messages to messaging."""
    settings = get_settings()
    db = get_database()
    now = utcnow()
    totals = dict.fromkeys(
        ("looked_at", "queued", "duplicate", "superseded", "outside_hours", "invalid"), 0
    )
    after: int | None = 0
    while after is not None:
        with db.read() as session:
            planned, run, after = service.plan_dunning(session, settings, now=now, after_id=after)
        service.prepare(planned, settings)  # the PDFs: CPU, outside the write transaction
        if planned:
            with db.write() as session:
                service.apply_dunning(session, planned, run)
        for key in totals:
            totals[key] += getattr(run, key)
    if totals["queued"] or totals["duplicate"]:
        log.info("dunning run", extra={"counts": totals})
    return totals
