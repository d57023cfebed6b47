"""The FastAPI application: API under /v1, health and metrics, and the web console."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from sincro import __version__, events
from sincro.access.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from sincro.catalog.endpoints import router as catalog_router
from sincro.catalog.search_endpoints import router as search_router
from sincro.config import Settings, get_settings
from sincro.connectors.endpoints import router as sync_router
from sincro.db import get_database
from sincro.deps import AppState
from sincro.errors import install_error_handlers
from sincro.feed.endpoints import router as feed_router
from sincro.feed.hub import EventHub
from sincro.feed.tailer import OutboxTailer
from sincro.feed.webhook_endpoints import router as webhooks_router
from sincro.health import router as health_router
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.endpoints import router as inventory_router
from sincro.inventory.shared import SharedSnapshots
from sincro.metrics import EVENTS_DELIVERED, MetricsMiddleware

DESCRIPTION = """Sincro keeps one trustworthy stock position per SKU x location, serves
availability to e-commerce under heavy load and takes reservations that never oversell.

Authenticate with an API key in the `X-API-Key` header (`sincro keys create`). Errors share
one JSON shape: `{"error": {"code", "message", "field", "details"}}`."""


def build_state(settings: Settings) -> AppState:
    db = get_database(settings.database_url)
    shared = None
    if settings.redis_url:
        import redis

        shared = SharedSnapshots(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)
    cache = AvailabilityCache(
        db, ttl_seconds=settings.availability_cache_ttl_seconds, shared=shared
    )

    def on_events(batch: list[dict[str, Any]]) -> None:
        cache.apply_events(batch)
        EVENTS_DELIVERED.inc(len(batch))

    tailer = OutboxTailer(db, gap_timeout=settings.feed_gap_timeout_seconds)
    hub = EventHub(
        tailer,
        on_events,
        poll_interval=settings.feed_poll_interval_seconds,
        poll=not settings.broker_is_amqp,  # with RabbitMQ, the relay's fan-out feeds the hub
    )
    limiter: RateLimiter = LocalRateLimiter()
    redis_client = None
    if settings.redis_url:
        import redis.asyncio as aioredis

        redis_client = aioredis.from_url(settings.redis_url)
        limiter = RedisRateLimiter(redis_client, settings.redis_prefix)
    return AppState(settings, db, cache, hub, limiter, redis_client)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.hub.start()
        amqp_feed = None
        if settings.broker_is_amqp:
            from sincro.feed.amqp import AmqpFeed

            amqp_feed = app.state.amqp_feed = AmqpFeed(settings, state.db, state.hub)
            amqp_feed.start(asyncio.get_running_loop())
        events.add_commit_listener(state.hub.wake)
        try:
            yield
        finally:
            events.remove_commit_listener(state.hub.wake)
            if amqp_feed is not None:
                await run_in_threadpool(amqp_feed.stop)
            await state.hub.stop()
            if state.redis is not None:
                await state.redis.aclose()

    app = FastAPI(
        title="Sincro",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.sincro = state
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health_router)
    app.include_router(inventory_router)
    app.include_router(catalog_router)
    app.include_router(feed_router)
    app.include_router(sync_router)
    app.include_router(search_router)
    app.include_router(webhooks_router)
    _include_optional_routers(app)
    return app


def _include_optional_routers(app: FastAPI) -> None:
    from sincro.console import mount_console

    mount_console(app)
