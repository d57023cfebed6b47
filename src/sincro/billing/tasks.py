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
    """Every page of dunning candidates, one transaction per page."""
    settings = get_settings()
    db = get_database()
    now = utcnow()
    totals = {"looked_at": 0, "queued": 0, "duplicate": 0, "superseded": 0, "outside_hours": 0}
    after: int | None = 0
    while after is not None:
        with db.write() as session:
            run, after = service.run_dunning(session, settings, now=now, after_id=after)
        for key in totals:
            totals[key] += getattr(run, key)
    if totals["queued"] or totals["duplicate"]:
        log.info("dunning run", extra={"counts": totals})
    return totals
