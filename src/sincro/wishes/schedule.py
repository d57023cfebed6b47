"""The wish list's beat entry: the back-in-stock reader of the change feed. On SQLite beat asks
every few seconds whether the feed has events the reader has not read; on PostgreSQL beat
sends it after outbox commits (at most once per ``SINCRO_WISHES_SCAN_EVERY_SECONDS``), and a
run that stops behind the feed asks for the next (:mod:`sincro.beat`)."""

from __future__ import annotations

from typing import Any

from sincro.beat import Wake
from sincro.config import Settings
from sincro.db import Database

TASK = "sincro.wishes.back_in_stock"


def feed_has_changes(db: Database, settings: Settings) -> bool:
    """The reader's gate (:mod:`sincro.beat`): the task's own first read."""
    from sincro.wishes import service

    with db.read() as session:
        return service.has_changes(session)


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    entry: dict[str, Any] = {"task": TASK, "gate": feed_has_changes}
    if settings.is_sqlite:
        entry["schedule"] = settings.wishes_scan_every_seconds
    else:  # woken by commits; the gated poll is a safety net
        entry["schedule"] = settings.wishes_scan_safety_poll_seconds
        entry["wake"] = Wake(gap=settings.wishes_scan_every_seconds, on_events=True)
    return {"wishes-back-in-stock": entry}
