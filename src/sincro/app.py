"""The FastAPI application: API under /v1, health and metrics, and the web console.

Which routers, metrics and per-process objects exist is read from the installed domains
(:mod:`sincro.domains`); this file names none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sincro import __version__, heap
from sincro.access.ratelimit import SharedStateRateLimiter
from sincro.apidocs import install_docs
from sincro.bodylimits import BodyLimits
from sincro.config import Settings, get_settings
from sincro.db import database_for
from sincro.deps import AppState
from sincro.domain import resolve, resolve_callable
from sincro.domains import installed
from sincro.errors import database_unavailable, document_errors, install_error_handlers
from sincro.fastroutes import FastRoutesApp, install as install_fast_routes
from sincro.health import install_heartbeat, router as health_router
from sincro.metrics import MetricsMiddleware, flush as flush_metrics, flush_every_second
from sincro.routecache import include
from sincro.routeindex import install as index_routes
from sincro.sharedstate import shared_state_from_settings

DESCRIPTION = """Sincro keeps one trustworthy stock position per SKU x location, serves
availability to e-commerce under heavy load and takes reservations that never oversell.

Authenticate with an API key in the `X-API-Key` header (`sincro keys create`). Errors share
one JSON shape: `{"error": {"code", "message", "field", "details"}}`."""

log = logging.getLogger("sincro.app")
START_RETRY_SECONDS = 1.0


def build_state(settings: Settings) -> AppState:
    """The kernel's shared objects, then each installed domain's runtime, in list order."""
    db = database_for(settings)
    shared = shared_state_from_settings(settings, db)
    state = AppState(settings, db, shared, SharedStateRateLimiter(shared))
    for domain in installed():
        for module in domain.metrics:
            resolve(module)
        install = resolve_callable(domain.runtime)
        if install is not None:
            install(state)
    install_heartbeat(state)  # this process reports to the health page (sincro.health)
    return state


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        retrying = [task for start in state.on_start if (task := await _start(start))]
        flushing = asyncio.create_task(flush_every_second(), name="sincro-metrics-flush")
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        log.info("serving on the %s event loop", loop, extra={"event_loop": loop})
        try:
            yield
        finally:
            for task in (*retrying, flushing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            flush_metrics()  # the samples of the last second
            for stop in reversed(state.on_stop):
                await stop()
            await state.shared.aclose()
            state.shared.close()

    app = FastRoutesApp(
        title="Sincro",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by apidocs, behind SINCRO_DOCS_ACCESS
    )
    app.state.sincro = state
    install_error_handlers(app)
    app.add_middleware(
        BodyLimits,
        api_max=settings.api_body_max_bytes,
        console_max=settings.console_body_max_bytes,
    )
    app.add_middleware(MetricsMiddleware)
    include(app, health_router)
    install_docs(app)
    for domain in installed():
        for router in domain.routers:
            include(app, resolve(router))
    _include_console(app)
    document_errors(app)
    install_fast_routes(app, state.fast_routes)
    index_routes(app.router)  # routes by first path segment (sincro.routeindex)
    return app


def create_server_app() -> FastAPI:
    """:func:`create_app` as ``sincro api``'s processes serve it, with their garbage
    collector tuned (:mod:`sincro.heap`; the heap is settled once the start hooks have
    run) and the GIL's switch interval shortened (``SINCRO_API_SWITCH_INTERVAL_MS``)."""
    settings = get_settings()
    heap.enable(settings.api_gc_freeze, settings.api_gc_young_threshold)
    sys.setswitchinterval(settings.api_switch_interval_ms / 1000)
    app = create_app(settings)

    async def settle() -> None:
        heap.settle()

    app.state.sincro.on_start.append(settle)  # the last hook: after every domain's
    return app


async def _start(start: Callable[[], Awaitable[None]]) -> asyncio.Task[None] | None:
    """Run a start hook; when the database is unavailable, go on serving (``/ready`` says
    503) and retry the hook in the background until it succeeds: an api started with its
    database down starts, and becomes ready once the database is back."""
    try:
        await start()
        return None
    except Exception as exc:
        if database_unavailable(exc) is None:
            raise
        log.warning("database unavailable at start (%s); retrying in the background", exc)
    return asyncio.create_task(_retry_start(start), name="sincro-start-retry")


async def _retry_start(start: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(START_RETRY_SECONDS)
        try:
            await start()
            log.info("database back: deferred start completed")
            return
        except Exception as exc:
            if database_unavailable(exc) is None:
                log.exception("deferred start failed")
                return
            continue


def _include_console(app: FastAPI) -> None:
    from sincro.console import mount_console

    mount_console(app)
