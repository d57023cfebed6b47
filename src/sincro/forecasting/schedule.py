"""Beat entries of forecasting (no task import here)."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "forecast-resume-runs": {
            "task": "sincro.forecasting.resume_runs",
            "schedule": settings.forecasting_chunk_lease_seconds / 2,
        },
        "forecast-stockout-alerts": {
            "task": "sincro.forecasting.stockout_alerts",
            "schedule": settings.forecasting_stockout_alert_seconds,
        },
    }
