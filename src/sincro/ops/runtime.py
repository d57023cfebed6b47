"""The api side of the health check. The check is scheduled by beat and runs on a worker, so
a dead beat, or no worker on the ``default`` queue, would silence exactly the alerts that
should say so; each api process therefore also runs it every 30 s, and the shared lock of
:func:`sincro.ops.service.check_if_due` keeps it to one run per 30 s across the deployment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from starlette.concurrency import run_in_threadpool

from sincro.deps import AppState
from sincro.ops import service

log = logging.getLogger("sincro.ops.runtime")
TASK = "ops.health_check"


def install(state: AppState) -> None:
    """Start the periodic check with the api process, stop it at shutdown."""

    async def loop() -> None:
        failing = False
        while True:
            await asyncio.sleep(service.CHECK_SECONDS * (0.5 + random.random()))
            try:
                await run_in_threadpool(
                    service.check_if_due, state.db, state.settings, state.shared
                )
            except Exception as exc:  # the database away: try again next time
                if not failing:
                    log.warning("health check skipped: %s", type(exc).__name__)
                failing = True
            else:
                failing = False

    async def start() -> None:
        state.services[TASK] = asyncio.create_task(loop(), name="sincro-ops-health-check")

    async def stop() -> None:
        task = state.services.pop(TASK, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    state.on_start.append(start)
    state.on_stop.append(stop)
