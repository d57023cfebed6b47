"""Rate limits per API key: a token bucket per key in the deployment's shared state.

A key limited to N requests per minute refills at N/60 tokens a second and holds at most N, so
a client may spend a minute's allowance at once (a new key's first N requests all pass) and
then goes at the steady rate. The bucket lives in :mod:`sincro.sharedstate` (Redis, or the
database in embedded mode), so every api process and replica draws from the same one.

The application builds ``SharedStateRateLimiter(shared_state_from_settings(settings, db))``.
``LocalRateLimiter`` and ``RedisRateLimiter`` are the former names, kept as thin adapters
until the composition code builds the limiter above; delete them then.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Protocol

from sincro.db import Database
from sincro.sharedstate import (
    DatabaseSharedState,
    RedisSharedState,
    SharedCounter,
    SharedLock,
    SharedState,
)


class RateLimiter(Protocol):
    async def hit(self, key_id: int, per_minute: int) -> float:
        """0 when allowed, else the seconds to wait before retrying."""
        ...


class SharedStateRateLimiter:
    """Per-key token buckets in ``shared``: rate ``per_minute / 60`` a second, burst
    ``per_minute`` (one minute's allowance)."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared

    async def hit(self, key_id: int, per_minute: int) -> float:
        """Take one request from the key's bucket: 0 when allowed, else seconds to wait."""
        return await self.shared.take_async(f"api-key:{key_id}", per_minute / 60.0, per_minute)


class RedisRateLimiter(SharedStateRateLimiter):
    """Former name: the buckets in Redis through an asyncio ``client``."""

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__(RedisSharedState(prefix, async_client=client))


class LocalRateLimiter(SharedStateRateLimiter):
    """Former name of the no-Redis limiter. Given no shared state it keeps its buckets in a
    private SQLite file of its own (one process only, as before) until the application passes
    the deployment's shared state."""

    def __init__(self, shared: SharedState | None = None) -> None:
        super().__init__(shared or _private_database_state(self))


def _private_database_state(owner: object) -> DatabaseSharedState:
    """A database shared state in a temporary SQLite file, removed with ``owner``."""
    folder = Path(tempfile.mkdtemp(prefix="sincro-limits-"))
    db = Database(f"sqlite:///{folder / 'limits.sqlite'}")
    for model in (SharedCounter, SharedLock):
        model.__table__.create(db.write_engine)  # type: ignore[attr-defined]
    weakref.finalize(owner, _remove, db, folder)
    return DatabaseSharedState(db)


def _remove(db: Database, folder: Path) -> None:
    db.dispose()
    shutil.rmtree(folder, ignore_errors=True)
