"""Messaging's beat entries (this module does not import the tasks): the tick, sent while it
has something to do and for a minute after, and the bounce mailbox when one is configured."""

from __future__ import annotations

from typing import Any

from sincro.beat import Lingering
from sincro.config import Settings
from sincro.db import Database

# after the last work, ticks go on this long: they set the pending gauge back (a campaign
# that completed, was paused or cancelled) in the worker processes that ran earlier ticks
TICK_LINGER_SECONDS = 60.0


def tick_has_work(db: Database, settings: Settings) -> bool:
    """The tick's gate (:mod:`sincro.beat`)."""
    from sincro.messaging import orchestrator

    return orchestrator.has_work(db, settings)


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {
        "messaging-tick": {
            "task": "sincro.messaging.tick",
            "schedule": settings.messaging_tick_seconds,
            "gate": Lingering(tick_has_work, TICK_LINGER_SECONDS),
        },
    }
    if settings.messaging_bounce_imap_url:
        entries["messaging-bounces"] = {"task": "sincro.messaging.bounces", "schedule": 60.0}
    return entries
