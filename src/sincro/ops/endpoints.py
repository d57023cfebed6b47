"""The ops domain's API: every service's health (admin keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sincro.deps import AdminKey, StateDep
from sincro.ops import service
from sincro.ops.schemas import ServicesOut

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health/services", summary="Every service's health", response_model=ServicesOut)
async def services(
    state: StateDep,
    _key: AdminKey,
    history_minutes: Annotated[
        int,
        Query(
            ge=0,
            le=service.MAX_HISTORY_MINUTES,
            description="Queue depth samples of the last N minutes",
        ),
    ] = 60,
) -> ServicesOut:
    """Each process that reports a heartbeat (api, worker and its pool processes, beat,
    relay, watchers, …) with its status (ok; stale after 3 missed beats; down after
    `SINCRO_HEALTH_DOWN_AFTER_SECONDS`; stopped), version, queues, last beat and recent errors
    (personal data removed); each broker queue's depth with its recent samples; and the
    Prometheus figures the domains declared, combined over the live processes. Admin keys only."""

    def work() -> ServicesOut:
        with state.db.read() as session:
            return service.overview(session, state.settings, history_minutes=history_minutes)

    return await run_in_threadpool(work)
