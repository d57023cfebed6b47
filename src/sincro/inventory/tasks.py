"""Background inventory jobs."""

from __future__ import annotations

import logging

from sincro.db import get_database
from sincro.inventory import history, service
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


@task("sincro.inventory.roll_up_sales", time_limit=300)
def roll_up_sales() -> int:
    """Roll new ledger rows into the daily sales history (for forecasting)."""
    total = 0
    while True:
        with get_database().write() as session:
            done = history.roll_up(session, limit=5000)
        total += done
        if done < 5000:
            return total


@task("sincro.inventory.mark_stockouts", time_limit=300)
def mark_stockouts() -> int:
    """Mark today's local day censored where a location has nothing sellable."""
    with get_database().write() as session:
        return history.mark_stockouts(session)
