"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from sincro.deps import StateDep
from sincro.exposure import require_exposure
from sincro.metrics import render
from sincro.worker import broker_reachable, refresh_queue_depths

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: database and broker reachable")
async def ready(state: StateDep, response: Response) -> dict[str, object]:
    """200 when the database and the broker answer, 503 (with which one failed) otherwise."""
    checks = {
        "database": await run_in_threadpool(_database_ok, state),
        "broker": await run_in_threadpool(broker_reachable, state.settings.broker_url),
    }
    ok = all(checks.values())
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "unavailable", "checks": checks}


def _database_ok(state: object) -> bool:
    try:
        with state.db.read() as session:  # type: ignore[attr-defined]
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


_last_depth_refresh = [0.0]


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep, request: Request) -> Response:
    """Prometheus metrics, for whom ``SINCRO_METRICS_ACCESS`` allows (public, loopback or any
    API key; default public embedded, loopback in production)."""
    await require_exposure(request, state.settings.metrics_exposure, "/metrics")
    for collect in state.on_scrape:
        collect()
    if time.monotonic() - _last_depth_refresh[0] > 5:
        _last_depth_refresh[0] = time.monotonic()
        await run_in_threadpool(refresh_queue_depths, state.settings.broker_url)
    body, content_type = render()
    return Response(body, media_type=content_type)
