"""Inventory's long-lived objects in an api process: the availability cache, patched by the
change feed through the kernel's event bus, dropped where a ``directory.changed`` event says
the location directory or a product changed, and warmed in the background at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from sincro import heap
from sincro.catalog import service as catalog
from sincro.catalog.schemas import DirectoryChanged
from sincro.deps import AppState
from sincro.events import STOCK
from sincro.idempotency import Outcome
from sincro.inventory import lean, lean_close
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.models import ReservationStatus
from sincro.inventory.reservations import Owner
from sincro.inventory.shared import SharedSnapshots
from sincro.pgasync import AsyncPool
from sincro.pggroup import MAX_BATCH
from sincro.sharedstate import redis_client_for

CACHE = "inventory.availability"
WRITERS = "inventory.reservation_threads"
POOL = "inventory.reservation_pool"
RESERVER = "inventory.reservation_loop"
# as many as anyio's default thread limit, which reservations used before
RESERVATION_THREADS = 40
# PostgreSQL connections of one api process for lean reservations on their loop: each
# statement holds one for about a millisecond, and more backends than cores only contend
RESERVATION_CONNECTIONS = 8
T = TypeVar("T")
WARM_PAGE = 500
log = logging.getLogger("sincro.inventory.warm")


def install(state: AppState) -> None:
    """Build this process's availability cache, subscribe it to committed events and warm
    it once the process has started (without holding the start up)."""
    settings = state.settings
    shared = None
    if settings.redis_url:
        shared = SharedSnapshots(redis_client_for(settings), settings.redis_prefix)
    cache = AvailabilityCache(
        state.db, ttl_seconds=settings.availability_cache_ttl_seconds, shared=shared
    )
    state.services[CACHE] = cache
    state.bus.subscribe(cache.apply_events, topic=STOCK)
    state.bus.subscribe(
        lambda events: on_directory_changed(cache, events), topic=catalog.DIRECTORY_CHANGED
    )
    _warm_in_background(state, cache, min(settings.availability_warm_skus, cache.capacity))
    _reservation_threads(state)
    # the api's routes: imported by the api only
    from sincro.inventory import fast, fast_close, fast_read

    fast.install(state)
    fast_close.install(state)
    fast_read.install(state)


def on_directory_changed(cache: AvailabilityCache, events: list[dict[str, Any]]) -> None:
    """A location changed: this process's directory and every snapshot indexed by it go. A
    product changed: its snapshot goes (its name is in the summary)."""
    changes = [DirectoryChanged.model_validate(event["payload"]) for event in events]
    if any(change.kind == "location" for change in changes):
        catalog.forget_locations()
        cache.forget()
        return
    skus = [sku for change in changes for sku in change.codes]
    cache.forget(None if any(not change.codes for change in changes) else skus)


def _warm_in_background(state: AppState, cache: AvailabilityCache, limit: int) -> None:
    """Load up to ``limit`` SKUs' snapshots after start, a page (one read) at a time, so the
    first batch query after a restart does not pay for a cold cache; readiness does not wait."""
    if limit <= 0:
        return
    task: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal task
        task = asyncio.create_task(_warm(state, cache, limit))

    async def stop() -> None:
        if task is not None and not task.done():
            task.cancel()

    state.on_start.append(start)
    state.on_stop.append(stop)


async def _warm(state: AppState, cache: AvailabilityCache, limit: int) -> None:
    offset = 0
    try:
        while offset < limit:
            page = await run_in_threadpool(
                _warm_page, state, cache, offset, min(WARM_PAGE, limit - offset)
            )
            if page == 0:
                break
            offset += page
    except Exception:  # a cold cache still works: log and let reads load on demand
        log.warning("availability cache warm-up stopped after %d SKUs", offset, exc_info=True)
    heap.settle()  # the snapshots just loaded live as long as the process (sincro.heap)


def _warm_page(state: AppState, cache: AvailabilityCache, offset: int, size: int) -> int:
    with state.db.read() as session:
        products, _ = catalog.list_products(
            session, q=None, category=None, offset=offset, limit=size
        )
    cache.get_many(p.sku for p in products)
    return len(products)


def _reservation_threads(state: AppState) -> None:
    """Reservations block in threads of their own (created on first use, dropped at stop):
    a hand-off through ``concurrent.futures`` costs about a third of anyio's
    ``run_in_threadpool``, which was a fifth of a lean reservation's CPU. The lean path
    runs elsewhere: on PostgreSQL on an event loop of its own (:func:`reserve_on_loop`), on
    connections of its own (:func:`reservation_pool`), both closed at stop too; on SQLite
    through the database's group commit (one writer thread, which ends by itself when
    idle)."""

    async def stop() -> None:
        state.close_threads(WRITERS)
        await state.close_loop(RESERVER, lambda: _close_pool(state))
        left = state.services.pop(POOL, None)  # the loop did not close it in time
        if left is not None:
            left.abandon()

    state.on_stop.append(stop)


async def _close_pool(state: AppState) -> None:
    """On the reservation loop: close its pool's connections."""
    connections = state.services.pop(POOL, None)
    if connections is None:
        return
    if connections.loop is asyncio.get_running_loop():
        await connections.close()
    else:
        connections.abandon()


def reservation_pool(
    state: AppState, max_batch: int = MAX_BATCH, in_flight: int | None = None
) -> AsyncPool | None:
    """PostgreSQL: the connections on which the running event loop (the reservation loop,
    :func:`reserve_on_loop`) runs lean reservations, made on first use, committing up to
    ``max_batch`` queued ones together, ``in_flight`` such batches at once
    (:mod:`sincro.pggroup`); a pool of another loop is replaced. SQLite: None (lean
    reservations go to the database's group commit, :mod:`sincro.group_commit`)."""
    if state.db.is_sqlite:
        return None
    pool = state.services.get(POOL)
    if pool is None or pool.loop is not asyncio.get_running_loop():
        if pool is not None:
            pool.abandon()
        pool = AsyncPool(
            state.db.url, state.db.timeouts, RESERVATION_CONNECTIONS, max_batch, in_flight
        )
        state.services[POOL] = pool
    return pool


async def reserve_lean(
    state: AppState, req: lean.LeanReservation, ids: tuple[int, int]
) -> Outcome | None:
    """The lean path from a request's event loop (``ids`` from :func:`lean.known_ids`), the
    one place that chooses where it runs: on SQLite through the database's group commit (its
    writer thread takes SQLite's write lock; nothing to run on another loop), on PostgreSQL
    on the reservation loop (:func:`reserve_on_loop`). Its answers and errors are
    :func:`lean.reserve_async`'s."""
    if state.db.is_sqlite:
        return await _reserve_async(state, req, ids)
    return await reserve_on_loop(state, req, ids)


async def reserve_on_loop(
    state: AppState, req: lean.LeanReservation, ids: tuple[int, int]
) -> Outcome | None:
    """PostgreSQL: :func:`lean.reserve_async` on the process's reservation loop, a thread of
    its own (:mod:`sincro.loopthread`), with :func:`reservation_pool`'s connections. On the
    loop serving thousands of connections each step of the statement (send, wait, read)
    waited for an iteration of that loop, hundreds of milliseconds under load, and the pool
    drained at tens of statements a second; here a step waits only for its socket. Its
    answers and errors are :func:`lean.reserve_async`'s."""
    return await state.on_loop(RESERVER, _reserve_async, state, req, ids)


async def _reserve_async(
    state: AppState, req: lean.LeanReservation, ids: tuple[int, int]
) -> Outcome | None:
    return await lean.reserve_async(state.db, _configured_pool(state), req, ids)


async def close_on_loop(
    state: AppState, public_id: str, channel: str, owner: Owner, target: ReservationStatus
) -> dict[str, Any] | None:
    """PostgreSQL: :func:`lean_close.close_async` on the reservation loop, with the same
    connections as the lean reservations (:func:`reserve_on_loop`); its answers and errors."""
    return await state.on_loop(RESERVER, _close_async, state, public_id, channel, owner, target)


async def _close_async(
    state: AppState, public_id: str, channel: str, owner: Owner, target: ReservationStatus
) -> dict[str, Any] | None:
    pool = _configured_pool(state)
    assert pool is not None  # PostgreSQL only
    return await lean_close.close_async(state.db, pool, public_id, channel, owner, target)


def _configured_pool(state: AppState) -> AsyncPool | None:
    """:func:`reservation_pool` with the deployment's batch size and batches in flight."""
    settings = state.settings
    return reservation_pool(
        state,
        settings.inventory_reservation_batch,
        settings.inventory_reservation_batches_in_flight,
    )


async def in_reservation_thread(state: AppState, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in one of the reservation threads (blocking work, off the loop)."""
    return await state.in_threads(WRITERS, RESERVATION_THREADS, work, *args)


def availability_cache(state: AppState) -> AvailabilityCache:
    return state.service(CACHE, AvailabilityCache)
