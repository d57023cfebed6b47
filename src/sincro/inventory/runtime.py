"""Inventory's long-lived objects in an api process: the availability cache, patched by the
change feed through the kernel's event bus."""

from __future__ import annotations

from sincro.deps import AppState
from sincro.events import STOCK
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.shared import SharedSnapshots

CACHE = "inventory.availability"


def install(state: AppState) -> None:
    """Build this process's availability cache and subscribe it to committed events."""
    settings = state.settings
    shared = None
    if settings.redis_url:
        import redis

        shared = SharedSnapshots(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)
    cache = AvailabilityCache(
        state.db, ttl_seconds=settings.availability_cache_ttl_seconds, shared=shared
    )
    state.services[CACHE] = cache
    state.bus.subscribe(cache.apply_events, topic=STOCK)


def availability_cache(state: AppState) -> AvailabilityCache:
    return state.service(CACHE, AvailabilityCache)
