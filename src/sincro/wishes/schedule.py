"""The wish list's beat entry: the back-in-stock reader of the change feed."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "wishes-back-in-stock": {
            "task": "sincro.wishes.back_in_stock",
            "schedule": settings.wishes_scan_every_seconds,
        }
    }
