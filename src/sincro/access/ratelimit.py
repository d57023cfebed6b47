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

**One lease in flight per key.** When a process's prepaid tokens run out under a burst (the
reference scenario sends 300 requests in the same millisecond), every request of the burst
finds nothing prepaid. Each taking its own lease would be a herd of round trips to the shared
store (a pool's worth of Redis connections, or a queue of database threads, in the requests'
path) and would take up to burst × lease tokens from the key's bucket at once: a key of
6,000/min leases 120, so 50 concurrent requests would take the whole minute's allowance and
the key's next requests would be refused although it sent 50. So the first request that finds
nothing prepaid takes the lease; the others wait for it and spend it, and only those left over
take the next one.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Protocol

from sincro.sharedstate import SharedState

LEASE_DIVISOR = 50
LEASE_MAX = 200


class RateLimiter(Protocol):
    async def hit(self, key_id: int, per_minute: int) -> float:
        """0 when allowed, else the seconds to wait before retrying."""
        ...


def lease_size(per_minute: int) -> int:
    return max(1, min(LEASE_MAX, per_minute // LEASE_DIVISOR))


class SharedStateRateLimiter:
    """Per-key token buckets in ``shared``: rate ``per_minute / 60`` a second, burst
    ``per_minute`` (one minute's allowance), taken in leases (see the module docstring)."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self._prepaid: dict[int, int] = {}
        # the lease being taken, per event loop and key (a future belongs to its loop)
        self._leasing: dict[tuple[int, int], asyncio.Future[bool]] = {}

    async def hit(self, key_id: int, per_minute: int) -> float:
        """Take one request from the key's bucket: 0 when allowed, else seconds to wait."""
        key, rate = f"api-key:{key_id}", per_minute / 60.0
        lease = lease_size(per_minute)
        while True:
            prepaid = self._prepaid.get(key_id, 0)
            if prepaid > 0:
                self._prepaid[key_id] = prepaid - 1
                return 0.0
            if lease <= 1:
                break
            flight = (id(asyncio.get_running_loop()), key_id)
            pending = self._leasing.get(flight)
            if pending is None:
                pending = asyncio.ensure_future(self._lease(key_id, key, rate, per_minute, lease))
                self._leasing[flight] = pending
                pending.add_done_callback(functools.partial(self._landed, flight))
            if not await asyncio.shield(pending):
                break  # the bucket holds less than a lease: one token at a time
        return await self.shared.take_async(key, rate, per_minute)

    def _landed(self, flight: tuple[int, int], _: object) -> None:
        self._leasing.pop(flight, None)

    async def _lease(self, key_id: int, key: str, rate: float, per_minute: int, lease: int) -> bool:
        if await self.shared.take_async(key, rate, per_minute, cost=lease) != 0:
            return False
        self._prepaid[key_id] = self._prepaid.get(key_id, 0) + lease
        return True
