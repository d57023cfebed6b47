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
"""

from __future__ import annotations

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

    async def hit(self, key_id: int, per_minute: int) -> float:
        """Take one request from the key's bucket: 0 when allowed, else seconds to wait."""
        prepaid = self._prepaid.get(key_id, 0)
        if prepaid > 0:
            self._prepaid[key_id] = prepaid - 1
            return 0.0
        key, rate = f"api-key:{key_id}", per_minute / 60.0
        lease = lease_size(per_minute)
        if lease > 1 and await self.shared.take_async(key, rate, per_minute, cost=lease) == 0:
            self._prepaid[key_id] = lease - 1
            return 0.0
        return await self.shared.take_async(key, rate, per_minute)
