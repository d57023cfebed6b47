"""Inventory's beat entries: the reservation expiry sweep (sent only when a hold is past its
time), the hourly ledger check, the sales roll-up (sent only when the ledger moved past it)
and the stock-out sweep."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings
from sincro.db import Database


def holds_expired(db: Database, settings: Settings) -> bool:
    """The expiry sweep's gate (:mod:`sincro.beat`): is a hold past its time?"""
    from sincro.inventory import service

    with db.read() as session:
        return service.has_expired_holds(session)


def movements_to_roll_up(db: Database, settings: Settings) -> bool:
    """The sales roll-up's gate: a ledger row the roll-up has not looked at yet?"""
    from sincro.inventory import history

    with db.read() as session:
        return history.has_movements_to_roll_up(session)


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "expire-reservations": {
            "task": "sincro.inventory.expire_reservations",
            "schedule": settings.expiry_sweep_seconds,
            "gate": holds_expired,
        },
        "verify-ledger": {"task": "sincro.inventory.verify_ledger", "schedule": 3600.0},
        "roll-up-sales": {
            "task": "sincro.inventory.roll_up_sales",
            "schedule": settings.inventory_history_rollup_seconds,
            "gate": movements_to_roll_up,
        },
        "mark-stockouts": {
            "task": "sincro.inventory.mark_stockouts",
            "schedule": settings.inventory_stockout_sweep_seconds,
        },
    }
