"""Rate limits per API key: a token bucket per key in the deployment's shared state.

A key limited to N requests per minute refills at N/60 tokens a second and holds at most N, so
a client may spend a minute's allowance at once (a new key's first N requests all pass) and
then goes at the steady rate. The bucket lives in :mod:`sincro.sharedstate` (Redis, or the
database in embedded mode), so every api process and replica draws from the same one.

**Leases.** A round trip to the shared store on every request would cost more than the cached
availability read it guards (about 230 µs of CPU on SQLite, against ~70 µs for the read). So a
process takes tokens from the shared bucket in leases of up to 1/50 of the burst (at most 200)
and spends them locally. Every token spent was taken from the shared bucket first, so the limit
across all processes is never exceeded; what a process holds is prepaid tokens, not a limit of
its own. A key of 60/min leases one token at a time, i.e. exactly the shared bucket.

**One lease in flight per key.** When a key's prepaid tokens run out under concurrent requests
(256 connections on one process), only the first request takes the next lease; the others
wait for it and spend from it. Before, each took a lease of its own at the same moment: one
shared round trip and one pooled Redis connection per waiting request (redis-py's default
pool then refused past 100 connections: 500s), and all but the last lease were thrown away
(their tokens, taken from the shared bucket, were overwritten), spending the key's allowance
up to hundreds of times faster than its requests. A refused lease (the bucket holds less than
a lease) lets every waiter take its one token on its own, as a single request would.

**Waiters in line.** The waiters queue in arrival order and a granted lease hands its tokens to
the first of them, one each; the first left over (if any) takes the next lease for the rest,
and only the tokens nobody waits for become prepaid. With thousands of connections on one
process, a lease of 200 met well over a thousand waiters: when every waiter was woken by
every lease to race for its tokens, each request was woken several times, and that cost
more than the read it guarded.

**The next lease before the last token.** A busy process takes its key's next lease in the
background once its prepaid tokens fall to half a lease, so at a steady rate requests spend
tokens already in hand instead of queueing behind the lease's round trip (a database write in
embedded mode, tens of milliseconds when the event loop is busy: the mixed flash-sale profile
showed reads waiting in that line for most of their time). The tokens are still taken from the
shared bucket before they are spent, so the limit holds; a refused prefetch changes nothing
(the request that runs out takes the next lease itself, as before). Keys of small leases
(``PREFETCH_MIN_LEASE``) do not prefetch: at their rates a lease's wait is rare.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from sincro.sharedstate import SharedState

LEASE_DIVISOR = 50
# Leases of 2,000 were tried at the eighth stop: the mixed flash sale served 12-17 % more, but
# its tail widened (p999 0.6 s -> ~6 s, wrk timeouts) because the lease line, a FIFO wait,
# had been pacing the loop. 200 stays; see docs/benchmarks.md (eighth stop).
LEASE_MAX = 200
# keys whose leases are smaller than this (under ~2,500 requests a minute) never queue long
# enough behind a lease to be worth a token taken early
PREFETCH_MIN_LEASE = 50


class RateLimiter(Protocol):
    def spend(self, key_id: int, per_minute: int) -> bool:
        """True when the request was allowed at once (a token in hand); False: call hit."""
        ...

    async def hit(self, key_id: int, per_minute: int) -> float:
        """0 when allowed, else the seconds to wait before retrying."""
        ...


def lease_size(per_minute: int) -> int:
    return max(1, min(LEASE_MAX, per_minute // LEASE_DIVISOR))


@dataclass(eq=False)
class _Leasing:
    """A key's lease in flight on ``loop`` and the requests waiting for it, in order: each
    waiter is told True (a token of a lease is yours), None (take the next lease, for you
    and those behind you) or False (the lease was refused: take your token alone)."""

    loop: asyncio.AbstractEventLoop
    waiters: deque[asyncio.Future[bool | None]] = field(default_factory=deque)


class SharedStateRateLimiter:
    """Per-key token buckets in ``shared``: rate ``per_minute / 60`` a second, burst
    ``per_minute`` (one minute's allowance), taken in leases (see the module docstring)."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self._prepaid: dict[int, int] = {}
        self._leasing: dict[int, _Leasing] = {}  # the lease being taken for a key
        self._prefetching: set[asyncio.Task[bool]] = set()

    def spend(self, key_id: int, per_minute: int) -> bool:
        """Take one request from the tokens this process holds for the key, without waiting:
        True when one was there (starting the next lease's prefetch when due), False when
        the request must go through :meth:`hit`. What nearly every request of a busy key
        does, and on the event loop alone: no coroutine, no key string."""
        if not self._spend(key_id):
            return False
        if self._prepaid[key_id] <= LEASE_MAX // 2 and key_id not in self._leasing:
            lease = lease_size(per_minute)
            if lease >= PREFETCH_MIN_LEASE and self._prepaid[key_id] <= lease // 2:
                self._prefetch(key_id, f"api-key:{key_id}", per_minute / 60.0, per_minute, lease)
        return True

    async def hit(self, key_id: int, per_minute: int) -> float:
        """Take one request from the key's bucket: 0 when allowed, else seconds to wait."""
        if self.spend(key_id, per_minute):
            return 0.0
        key, rate = f"api-key:{key_id}", per_minute / 60.0
        lease = lease_size(per_minute)
        if lease > 1:
            loop = asyncio.get_running_loop()
            leasing = self._leasing.get(key_id)
            lead = leasing is None or leasing.loop is not loop
            if lead:
                leasing = self._leasing[key_id] = _Leasing(loop)
            else:
                assert leasing is not None
                turn = await self._wait(key_id, leasing)
                if turn:
                    return 0.0
                lead = turn is None
            if lead and await self._take_lease(key_id, key, rate, per_minute, lease, leasing):
                return 0.0
        return await self.shared.take_async(key, rate, per_minute)

    def _prefetch(self, key_id: int, key: str, rate: float, per_minute: int, lease: int) -> None:
        """Take the key's next lease in a task of its own; requests that run out meanwhile
        wait in its line as they would behind a request's lease."""
        loop = asyncio.get_running_loop()
        leasing = self._leasing[key_id] = _Leasing(loop)
        task = loop.create_task(
            self._take_lease(key_id, key, rate, per_minute, lease, leasing, own=False)
        )
        self._prefetching.add(task)
        task.add_done_callback(self._prefetched)

    def _prefetched(self, task: asyncio.Task[bool]) -> None:
        self._prefetching.discard(task)
        if not task.cancelled():
            task.exception()  # a failed prefetch is no one's error: the line already moved on

    def _spend(self, key_id: int) -> bool:
        """Spend one prepaid token of the key, if this process holds one."""
        prepaid = self._prepaid.get(key_id, 0)
        if prepaid <= 0:
            return False
        self._prepaid[key_id] = prepaid - 1
        return True

    async def _wait(self, key_id: int, leasing: _Leasing) -> bool | None:
        """Wait in line for the lease in flight; what the lease told this request."""
        waiter: asyncio.Future[bool | None] = leasing.loop.create_future()
        leasing.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # told, then cancelled: pass it on
                if waiter.result() is None:
                    self._next_lead(key_id, leasing)
                elif waiter.result():
                    self._prepaid[key_id] = self._prepaid.get(key_id, 0) + 1
            raise

    async def _take_lease(
        self,
        key_id: int,
        key: str,
        rate: float,
        per_minute: int,
        lease: int,
        leasing: _Leasing,
        own: bool = True,
    ) -> bool:
        """Take a lease for the key while the requests that run out meanwhile wait in line;
        True when granted (one of its tokens is this request's unless it is a prefetch
        (``own`` false), the next ones the waiters', the rest prepaid)."""
        granted = False
        try:
            granted = await self.shared.take_async(key, rate, per_minute, cost=lease) == 0
            return granted
        finally:
            # on an error (Redis away) too: the waiters then try alone, and fail alone
            tokens = lease - own if granted else 0
            while tokens and leasing.waiters:
                waiter = leasing.waiters.popleft()
                if not waiter.done():
                    waiter.set_result(True)
                    tokens -= 1
            if tokens:
                self._prepaid[key_id] = self._prepaid.get(key_id, 0) + tokens
            if granted:
                self._next_lead(key_id, leasing)
            else:
                if self._leasing.get(key_id) is leasing:
                    del self._leasing[key_id]
                while leasing.waiters:
                    waiter = leasing.waiters.popleft()
                    if not waiter.done():
                        waiter.set_result(False)

    def _next_lead(self, key_id: int, leasing: _Leasing) -> None:
        """The first request still waiting takes the next lease; none: the line ends."""
        while leasing.waiters:
            waiter = leasing.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if self._leasing.get(key_id) is leasing:
            del self._leasing[key_id]
