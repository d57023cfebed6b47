"""Celery beat entries for the configured connectors (cron per connector)."""

from __future__ import annotations

from typing import Any


def beat_entries() -> dict[str, dict[str, Any]]:
    """Beat schedule entries, one per connector schedule."""
    return {}
