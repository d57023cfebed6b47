"""The feed's beat entries: webhook dispatch (after outbox commits on PostgreSQL, every second
on SQLite) and retention every 10 minutes."""

from __future__ import annotations

from typing import Any

from sincro.beat import Wake
from sincro.config import Settings

DISPATCH_TASK = "sincro.feed.dispatch_webhooks"


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    dispatch: dict[str, Any] = {"task": DISPATCH_TASK}
    if settings.is_sqlite:  # embedded: nothing to LISTEN on, so a short poll
        dispatch["schedule"] = settings.feed_webhook_dispatch_seconds
    else:  # woken by commits and by dispatches with work left; the poll is a safety net
        dispatch["schedule"] = settings.feed_webhook_safety_poll_seconds
        dispatch["wake"] = Wake(gap=settings.feed_webhook_dispatch_seconds, on_events=True)
    return {
        "dispatch-webhooks": dispatch,
        "feed-prune": {"task": "sincro.feed.prune", "schedule": settings.retention_every_seconds},
    }
