"""The wish list's beat entry: the back-in-stock reader of the change feed, sent only when the
feed has events it has not read."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings
from sincro.db import Database


def feed_has_changes(db: Database, settings: Settings) -> bool:
    """The reader's gate (:mod:`sincro.beat`): the task's own first read."""
    from sincro.wishes import service

    with db.read() as session:
        return service.has_changes(session)


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "wishes-back-in-stock": {
            "task": "sincro.wishes.back_in_stock",
            "schedule": settings.wishes_scan_every_seconds,
            "gate": feed_has_changes,
        }
    }
