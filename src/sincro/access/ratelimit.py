"""Rate limits per API key: a token bucket in process, or a shared window in Redis.

With Redis the count is shared by every api replica (a fixed one-second window per key,
``INCR`` + ``EXPIRE`` in one pipeline); without it each process keeps its own buckets.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, key_id: int, per_minute: int) -> float:
        """0 when allowed, else the seconds to wait before retrying."""
        ...


class LocalRateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}

    async def hit(self, key_id: int, per_minute: int) -> float:
        rate = per_minute / 60.0
        capacity = max(1.0, rate)  # one second's worth of burst
        now = time.monotonic()
        tokens, last = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / rate


class RedisRateLimiter:
    def __init__(self, client: object, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    async def hit(self, key_id: int, per_minute: int) -> float:
        per_second = max(1, math.ceil(per_minute / 60))
        now = time.time()
        window = int(now)
        name = f"{self.prefix}rl:{key_id}:{window}"
        pipe = self.client.pipeline(transaction=False)  # type: ignore[attr-defined]
        pipe.incr(name)
        pipe.expire(name, 2)
        count, _ = await pipe.execute()
        if count <= per_second:
            return 0.0
        return max(0.01, window + 1 - now)
