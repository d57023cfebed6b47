"""The feed's beat entries: webhook dispatch every second, retention every 10 minutes."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "dispatch-webhooks": {"task": "sincro.feed.dispatch_webhooks", "schedule": 1.0},
        "feed-prune": {"task": "sincro.feed.prune", "schedule": settings.retention_every_seconds},
    }
