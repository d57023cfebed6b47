"""Beat entries of customers (no task import here)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "customers-sweep-imports": {
            "task": "sincro.customers.sweep_imports",
            "schedule": settings.customers_import_sweep_seconds,
        },
    }
