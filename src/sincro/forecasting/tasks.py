"""Forecast run tasks (queue ``forecast``): one chunk per task, and the sweep that hands
chunks of a killed worker to another."""

from __future__ import annotations

import logging
import os
import socket

from sincro.config import get_settings
from sincro.db import get_database
from sincro.forecasting import runs
from sincro.forecasting.models import ForecastRun
from sincro.tasks import task
from sincro.worker import celery_app

log = logging.getLogger("sincro.forecasting")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def enqueue(run_id: int, chunks: list[int]) -> None:
    for number in chunks:
        celery_app.send_task("sincro.forecasting.run_chunk", args=(run_id, number))


@task("sincro.forecasting.run_chunk", time_limit=3600, max_retries=3)
def run_chunk(run_id: int, number: int) -> bool:
    """Forecast one chunk of a run (skipped when done or held by a live worker)."""
    settings = get_settings()
    return runs.run_chunk(
        get_database(),
        run_id,
        number,
        worker=WORKER,
        lease_seconds=settings.forecasting_chunk_lease_seconds,
    )


@task("sincro.forecasting.resume_runs", time_limit=120)
def resume_runs() -> int:
    """Re-enqueue the chunks of running runs whose lease ran out (a killed worker)."""
    from sqlalchemy import select

    again = 0
    with get_database().read() as session:
        running = list(
            session.scalars(select(ForecastRun.id).where(ForecastRun.status == "running"))
        )
        todo = {run_id: runs.resume(session, run_id) for run_id in running}
    for run_id, chunks in todo.items():
        enqueue(run_id, chunks)
        again += len(chunks)
    return again


@task("sincro.forecasting.stockout_alerts", time_limit=1800)
def stockout_alerts() -> tuple[int, int]:
    """Alert (and announce on the change feed) predicted stock-outs within lead time."""
    from sincro.forecasting.replenishment import Policy, raise_stockout_alerts

    settings = get_settings()
    policy = Policy.from_settings(settings)
    with get_database().write() as session:
        return raise_stockout_alerts(
            session, policy, settings.forecasting_stockout_alert_probability
        )


@task("sincro.forecasting.monitor", time_limit=1800)
def monitor() -> tuple[int, int, int]:
    """Compare the live forecasts with the actuals of finished days; alert on drift."""
    import datetime as dt

    from sincro.forecasting import monitor as live

    settings = get_settings()
    limits = live.Thresholds(
        min_coverage=settings.forecasting_monitor_min_coverage,
        error_ratio=settings.forecasting_monitor_error_ratio,
    )
    today = dt.date.today()
    with get_database().write() as session:
        days = live.catch_up(session, today)
        raised, resolved = live.check_drift(session, today, limits)
    return days, raised, resolved
