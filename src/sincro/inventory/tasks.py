"""Background inventory jobs."""

from __future__ import annotations

import logging

from sincro.db import get_database
from sincro.inventory import service
from sincro.tasks import task

log = logging.getLogger("sincro.inventory")


@task("sincro.inventory.expire_reservations", time_limit=60)
def expire_reservations() -> int:
    """Release holds whose time is up (reads already ignore them; this frees the counters)."""
    total = 0
    while True:
        with get_database().write() as session:
            done = service.expire_holds(session, limit=500)
        total += done
        if done < 500:
            return total


@task("sincro.inventory.verify_ledger", time_limit=1800)
def verify_ledger() -> int:
    """Compare every stock level with its ledger; log each disagreement."""
    db = get_database()
    with db.long(), db.read() as session:
        mismatches = service.verify(session)
    for row in mismatches:
        log.error("stock level disagrees with ledger", extra={"mismatch": row})
    return len(mismatches)
