"""Typed FastAPI dependencies shared by every domain's endpoints."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.access import service as access
from sincro.access.ratelimit import RateLimiter
from sincro.bus import EventBus
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import RateLimited, Unauthorized
from sincro.fastroutes import FastRoute
from sincro.inputs import MAX_ROW_ID
from sincro.loopthread import LoopThread
from sincro.sharedstate import SharedState

T = TypeVar("T")
log = logging.getLogger("sincro.deps")
MAX_OFFSET = 1_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=500, description="Rows per page")]


def row_id_path(what: str) -> Any:
    """A path parameter naming a row by its integer id, within the column's 32-bit range."""
    return Path(ge=1, le=MAX_ROW_ID, description=what)


Hook = Callable[[], Awaitable[None]]


@dataclass
class AppState:
    """What one api process shares between requests. The kernel types only kernel things
    (``shared`` is the deployment's shared state: rate limits, locks, throttles);
    each domain keeps its long-lived objects (caches, hubs) in ``services`` under its own
    name, installed by its ``runtime`` and read back through its own typed accessor."""

    settings: Settings
    db: Database
    shared: SharedState
    limiter: RateLimiter
    bus: EventBus = field(default_factory=EventBus)
    services: dict[str, Any] = field(default_factory=dict)
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    on_scrape: list[Callable[[], None]] = field(default_factory=list)
    # hot ``(method, path)`` pairs a domain answers ahead of FastAPI (sincro.fastroutes)
    fast_routes: dict[tuple[str, str], FastRoute] = field(default_factory=dict)
    # keys being read from the database for requests that missed the key cache, one read per
    # key however many requests wait for it (see :func:`authorize`)
    key_reads: dict[str, asyncio.Future[access.Principal]] = field(default_factory=dict)

    def service(self, name: str, kind: type[T]) -> T:
        """The object a domain installed under ``name`` (a typed lookup for its accessor)."""
        found = self.services[name]
        if not isinstance(found, kind):
            raise TypeError(f"service {name!r} is a {type(found).__name__}, not {kind.__name__}")
        return found

    async def in_threads(self, name: str, size: int, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in the app's thread pool ``name`` (``size`` threads, made at first
        use): blocking work off the event loop through one ``concurrent.futures`` hand-off,
        about a third of anyio's CPU."""
        pool = self.services.get(name)
        if pool is None:
            pool = ThreadPoolExecutor(size, thread_name_prefix=f"sincro-{name}")
            pool = self.services.setdefault(name, pool)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(work, *args))

    def close_threads(self, name: str) -> None:
        """At stop: end the thread pool ``name`` (queued work is cancelled), if it was made."""
        pool = self.services.pop(name, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def on_loop(self, name: str, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await work(*args)`` on the app's event loop ``name``, in a thread of its own
        (made at first use, :mod:`sincro.loopthread`): I/O that must not wait for the
        iterations of the loop serving the requests."""
        runner = self.services.get(name)
        if runner is None:
            runner = self.services.setdefault(name, LoopThread(f"sincro-{name}"))
        return await runner.run(work, *args)

    async def close_loop(
        self, name: str, last: Callable[[], Awaitable[None]] | None = None, timeout: float = 5.0
    ) -> bool:
        """At stop: run ``last()`` on the loop ``name`` (closing what belongs to it, within
        ``timeout`` s), then end the loop and its thread (work still running is cancelled),
        if it was made. False when something did not finish in time."""
        runner = self.services.pop(name, None)
        if runner is None:
            return True
        done = True
        if last is not None:
            try:
                await asyncio.wait_for(runner.run(last), timeout)
            except Exception:  # the loop ends anyway: what it held goes with the process
                log.warning("closing the event loop %s failed", name, exc_info=True)
                done = False
        stopped = await asyncio.get_running_loop().run_in_executor(None, runner.stop, timeout)
        return done and stopped

    def run_write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, retried on deadlock or serialization failure."""
        return self.db.write_retrying(work)


async def get_state(request: Request) -> AppState:
    return request.app.state.sincro


StateDep = Annotated[AppState, Depends(get_state)]


api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key: sk_<prefix>_<secret>"
)


async def current_key(
    request: Request, _doc: Annotated[str | None, Depends(api_key_header)] = None
) -> access.Principal:
    """The principal behind ``X-API-Key`` (or ``Authorization: Bearer``), rate limited."""
    return await authorize(request)


async def authorize(request: Request) -> access.Principal:
    """Authenticate and rate-limit a request (a plain call, usable without Depends)."""
    state: AppState = request.app.state.sincro
    headers = request.headers
    plaintext = presented_key(headers.get("x-api-key"), headers.get("authorization"))
    if not plaintext:
        raise Unauthorized("missing API key: send it in the X-API-Key header", field="X-API-Key")
    principal = _cached(state, plaintext)
    if principal is None:
        principal = await _read_once(state, plaintext)
    await rate_limit(state, principal)
    return principal


def _per_minute(state: AppState, principal: access.Principal) -> int:
    """The key's limit: its own, else the deployment's default."""
    return principal.rate_limit_per_minute or state.settings.default_rate_limit_per_minute


def allowed_now(state: AppState, principal: access.Principal) -> bool:
    """True when the key's allowance gave this request a token at once (one this process
    holds, as for nearly every request of a busy key); False: :func:`rate_limit` decides."""
    return state.limiter.spend(principal.key_id, _per_minute(state, principal))


async def rate_limit(state: AppState, principal: access.Principal) -> None:
    """Take one request from the key's allowance, or raise :class:`RateLimited` (429)."""
    if allowed_now(state, principal):
        return
    limit = _per_minute(state, principal)
    wait = await state.limiter.hit(principal.key_id, limit)
    if wait > 0:
        raise RateLimited(
            f"rate limit of {limit} requests per minute exceeded for this key",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a request presents: ``X-API-Key``, else ``Authorization: Bearer``."""
    key = (x_api_key or "").strip()
    if not key and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    return key or None


def cached_key(
    state: AppState, x_api_key: str | None, authorization: str | None
) -> access.Principal | None:
    """The principal of the key a request presents when this process has it cached (no
    database, no effect on the request): what the fast routes decide on; None for no key or
    an unknown one. A cached key past half its cache life is re-read in the background."""
    plaintext = presented_key(x_api_key, authorization)
    return _cached(state, plaintext) if plaintext else None


def _cached(state: AppState, plaintext: str) -> access.Principal | None:
    """The key's cached principal, if any; when it is due, its re-read is started in the
    default executor (see :func:`sincro.access.service.use_cached`). On the event loop."""
    principal, claimed = access.use_cached(plaintext)
    if claimed:
        asyncio.get_running_loop().run_in_executor(None, _refresh_key, state.db, plaintext)
    return principal


async def _read_once(state: AppState, plaintext: str) -> access.Principal:
    """The key's principal read from the database in the thread pool, once for all the
    requests that missed the cache together: when a busy process's entry was gone (at its
    start, after the key went unused for its cache life), each of the thousands of requests in
    flight read it on its own, seconds behind one another in the pool. A waiter cancelled
    (its client gone) leaves the read to the others; an unknown key fails them all alike."""
    pending = state.key_reads.get(plaintext)
    if pending is None or pending.get_loop() is not asyncio.get_running_loop():
        # (a read left by a loop that ended mid-read, as a test's app may: begin anew here)
        pending = asyncio.ensure_future(run_in_threadpool(authenticate_key, state.db, plaintext))
        state.key_reads[plaintext] = pending

        def read(done: asyncio.Future[access.Principal]) -> None:
            if state.key_reads.get(plaintext) is done:
                del state.key_reads[plaintext]
            if not done.cancelled():
                done.exception()  # every waiter may have gone: the error is still seen

        pending.add_done_callback(read)
    return await asyncio.shield(pending)


def _refresh_key(db: Database, plaintext: str) -> None:
    try:
        with db.read() as session:
            access.refresh_key(session, plaintext)
    except Exception:  # the key expires as it would have; the next request that misses it reads it
        log.warning("re-reading a cached API key failed", exc_info=True)


def authenticate_key(db: Database, plaintext: str) -> access.Principal:
    """The principal of a key (blocking: may read the database); :class:`Unauthorized`."""
    with db.read() as session:
        return access.authenticate(session, plaintext)


CurrentKey = Annotated[access.Principal, Depends(current_key)]


def role(*roles: access.Role) -> Callable[..., Any]:
    async def check(principal: CurrentKey) -> access.Principal:
        principal.require(*roles)
        return principal

    return check


AdminKey = Annotated[access.Principal, Depends(role(access.Role.admin))]
ChannelKey = Annotated[access.Principal, Depends(role(access.Role.channel))]
StoreKey = Annotated[access.Principal, Depends(role(access.Role.store))]


async def lean_channel_key(request: Request) -> access.Principal:
    """A channel (or admin) key in ONE dependency: hot endpoints skip the chain of
    ``ChannelKey`` (role check → current key → header doc), and declare the API-key security
    in their ``openapi_extra`` instead."""
    principal = await authorize(request)
    principal.require(access.Role.channel)
    return principal


LeanChannelKey = Annotated[access.Principal, Depends(lean_channel_key)]
