"""Celery beat entries of the ops domain (this module does not import the tasks)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings

CHECK_SECONDS = 30.0  # ops.service.CHECK_SECONDS (not imported: this module stays light)
PRUNE_SECONDS = 3600.0


def beat_entries(settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """The health check (silent services, backed-up queues) every 30 s; pruning hourly."""
    return {
        "ops-check-health": {"task": "sincro.ops.check_health", "schedule": CHECK_SECONDS},
        "ops-prune-health": {"task": "sincro.ops.prune_health", "schedule": PRUNE_SECONDS},
    }
