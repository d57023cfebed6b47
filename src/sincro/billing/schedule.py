"""Billing's beat entry: the dunning run."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "billing-dunning": {
            "task": "sincro.billing.dunning",
            "schedule": settings.billing_dunning_every_seconds,
        }
    }
