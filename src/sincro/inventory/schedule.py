"""Inventory's beat entries: the reservation expiry sweep and the hourly ledger check."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "expire-reservations": {
            "task": "sincro.inventory.expire_reservations",
            "schedule": settings.expiry_sweep_seconds,
        },
        "verify-ledger": {"task": "sincro.inventory.verify_ledger", "schedule": 3600.0},
        "roll-up-sales": {
            "task": "sincro.inventory.roll_up_sales",
            "schedule": settings.inventory_history_rollup_seconds,
        },
        "mark-stockouts": {
            "task": "sincro.inventory.mark_stockouts",
            "schedule": settings.inventory_stockout_sweep_seconds,
        },
    }
