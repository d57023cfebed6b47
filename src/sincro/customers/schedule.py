"""Beat entries of customers (no task import here)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings
from sincro.db import Database


def uploads_stored(db: Database, settings: Settings) -> bool:
    """The import sweep's gate (:mod:`sincro.beat`): an upload is stored. The sweep only acts
    on imports with one (sent again, given up) and on uploads of finished imports."""
    from sincro.customers import repository as repo

    with db.read() as session:
        return repo.has_uploads(session)


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "customers-sweep-imports": {
            "task": "sincro.customers.sweep_imports",
            "schedule": settings.customers_import_sweep_seconds,
            "gate": uploads_stored,
        },
    }
