"""State shared by every process and machine of a deployment: token buckets, window counters
and locks, behind one interface whose backend follows the URLs.

* :class:`RedisSharedState` (production, ``settings.redis_url`` set): one Lua script or one
  command per operation, so each check-and-change is atomic; Redis server time; keys under
  ``settings.redis_prefix`` that expire on their own.
* :class:`DatabaseSharedState` (embedded mode): the ``shared_counters`` and ``shared_locks``
  tables, each operation one conditional single-statement upsert (``INSERT … ON CONFLICT``)
  in its own short transaction, on SQLite and PostgreSQL alike; database server time.
  Operations never join the caller's business transaction.

Time is the server's (Redis or the database), never the caller's clock, so machines with a
skewed clock still share one budget. A lock is non-reentrant, held under a random owner token
and expires ``ttl_seconds`` after it was taken (or last renewed), so a holder that dies
without releasing it blocks others only until then.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Double,
    String,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    update as sql_update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, Database, database_for

if TYPE_CHECKING:
    from sincro.config import Settings

log = logging.getLogger("sincro.sharedstate")

LOCK_POLL_SECONDS = 0.05
PURGE_EVERY_SECONDS = 300.0


class LockHeld(Exception):
    """The lock is held by another owner (and was not freed within the wait)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lock {name!r} is held by another owner")
        self.name = name


class SharedState(ABC):
    """Counters and locks shared by every process; each operation atomic on its own."""

    @abstractmethod
    def take(self, key: str, rate_per_second: float, burst: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from the bucket ``key`` (refilled at ``rate_per_second`` up to
        ``burst``; a new bucket starts full). 0 when taken, else the seconds until enough
        tokens will be there (nothing is taken then)."""

    @abstractmethod
    def hit(self, key: str, limit: int, window_seconds: float) -> float:
        """Count one event of ``key`` in its window (which starts at the first event and lasts
        ``window_seconds``). 0 while the count is within ``limit``, else the seconds until the
        window ends."""

    @abstractmethod
    def add(self, key: str, amount: int, window_seconds: float) -> int:
        """Add ``amount`` (may be 0 or negative) to the window counter ``key`` (the window
        starts at the first event and lasts ``window_seconds``) and return its new count:
        the same counter :meth:`hit` counts, for callers that need the number itself."""

    @abstractmethod
    def reset(self, key: str) -> None:
        """Forget the bucket and the window of ``key`` (e.g. after a successful sign-in)."""

    @abstractmethod
    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        """Take the lock ``name`` for ``ttl_seconds``: its owner token, or None when another
        owner holds it (this one too: locks are not reentrant)."""

    @abstractmethod
    def release(self, name: str, token: str) -> bool:
        """Free the lock if ``token`` still owns it; False when it had expired meanwhile."""

    @abstractmethod
    def renew(self, name: str, token: str, ttl_seconds: float) -> bool:
        """Extend a held lock to ``ttl_seconds`` from now; False when ``token`` lost it."""

    @contextmanager
    def lock(self, name: str, ttl_seconds: float, wait_seconds: float = 0.0) -> Iterator[str]:
        """Hold the lock ``name`` for the block (yields the owner token, for :meth:`renew`).
        Waits up to ``wait_seconds`` for it, then raises :class:`LockHeld`."""
        token = self.acquire(name, ttl_seconds)
        deadline = time.monotonic() + wait_seconds
        while token is None:
            if time.monotonic() >= deadline:
                raise LockHeld(name)
            time.sleep(LOCK_POLL_SECONDS * (0.5 + random.random()))
            token = self.acquire(name, ttl_seconds)
        try:
            yield token
        finally:
            if not self.release(name, token):
                log.warning("lock %s expired before its holder released it", name)

    async def take_async(
        self, key: str, rate_per_second: float, burst: float, cost: float = 1.0
    ) -> float:
        """:meth:`take` for the event loop (in a worker thread unless the backend is async)."""
        return await asyncio.to_thread(self.take, key, rate_per_second, burst, cost)

    async def hit_async(self, key: str, limit: int, window_seconds: float) -> float:
        """:meth:`hit` for the event loop (in a worker thread unless the backend is async)."""
        return await asyncio.to_thread(self.hit, key, limit, window_seconds)

    def close(self) -> None:
        """Free connections (the backend stays usable; they are made again on demand)."""
        return None

    async def aclose(self) -> None:
        """Free connections held by the event loop's client, if any."""
        return None


def check_bucket(rate_per_second: float, burst: float, cost: float) -> None:
    if rate_per_second <= 0 or cost <= 0 or burst < cost:
        raise ValueError(
            f"token bucket needs rate > 0 and 0 < cost <= burst "
            f"(rate={rate_per_second}, burst={burst}, cost={cost})"
        )


def new_token() -> str:
    return secrets.token_hex(16)


# --- Redis ---------------------------------------------------------------------------------

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = burst
if s[1] then tokens = math.min(burst, tonumber(s[1]) + (now - tonumber(s[2])) * rate) end
if tokens < cost then return string.format('%.6f', (cost - tokens) / rate) end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'stamp', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return '0'
"""
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if n <= tonumber(ARGV[1]) then return 0 end
return math.max(ttl, 1)
"""
_ADD = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
REDIS_CONNECT_TIMEOUT_SECONDS = 3.0
REDIS_MAX_CONNECTIONS = 32  # the defaults of ``SINCRO_REDIS_MAX_CONNECTIONS`` …
REDIS_POOL_WAIT_SECONDS = 5.0  # … and ``SINCRO_REDIS_POOL_WAIT_SECONDS``


def redis_client(
    url: str,
    *,
    asynchronous: bool = False,
    max_connections: int = REDIS_MAX_CONNECTIONS,
    pool_wait_seconds: float = REDIS_POOL_WAIT_SECONDS,
) -> Any:
    """A ``redis.Redis`` (or ``redis.asyncio.Redis``) for ``url`` on a pool of its own of at
    most ``max_connections``, with socket timeouts. The pool *blocks*: a call that finds every
    connection busy waits up to ``pool_wait_seconds`` for one, then raises
    ``redis.ConnectionError`` (a 503, see :mod:`sincro.errors`). redis-py's default pool
    instead raises ``MaxConnectionsError`` at once past 100 connections, which 256 concurrent
    requests of one api process reached: about a tenth of them answered 500."""
    import redis
    import redis.asyncio as aioredis

    pool_settings: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": pool_wait_seconds,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    }
    # closing the client disconnects its pool
    if asynchronous:
        return aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(url, **pool_settings)
        )
    return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(url, **pool_settings))


def redis_client_for(settings: Settings, *, asynchronous: bool = False) -> Any:
    """:func:`redis_client` for ``settings.redis_url`` with the deployment's pool size."""
    return redis_client(
        settings.redis_url,
        asynchronous=asynchronous,
        max_connections=settings.redis_max_connections,
        pool_wait_seconds=settings.redis_pool_wait_seconds,
    )


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisSharedState(SharedState):
    """Shared state in Redis: ``<prefix>bucket:<key>`` (a hash), ``<prefix>window:<key>`` (a
    counter) and ``<prefix>lock:<name>`` (the owner token), each expiring on its own.

    ``client`` (``redis.Redis``) serves the blocking calls, ``async_client``
    (``redis.asyncio.Redis``) the ``*_async`` ones; a side may be omitted when unused."""

    def __init__(self, prefix: str, client: Any = None, async_client: Any = None) -> None:
        self.prefix = prefix
        self.client, self.async_client = client, async_client
        if client is not None:
            self._take = client.register_script(_TAKE)
            self._hit = client.register_script(_HIT)
            self._add = client.register_script(_ADD)
            self._release = client.register_script(_RELEASE)
            self._renew = client.register_script(_RENEW)
        if async_client is not None:
            self._take_async = async_client.register_script(_TAKE)
            self._hit_async = async_client.register_script(_HIT)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        max_connections: int = REDIS_MAX_CONNECTIONS,
        pool_wait_seconds: float = REDIS_POOL_WAIT_SECONDS,
    ) -> RedisSharedState:
        """Both clients for ``url`` (see :func:`redis_client`; they connect on first use)."""
        clients = (
            redis_client(
                url,
                asynchronous=asynchronous,
                max_connections=max_connections,
                pool_wait_seconds=pool_wait_seconds,
            )
            for asynchronous in (False, True)
        )
        return cls(prefix, *clients)

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"

    def take(self, key: str, rate_per_second: float, burst: float, cost: float = 1.0) -> float:
        check_bucket(rate_per_second, burst, cost)
        keys = [self._key("bucket", key)]
        return float(self._take(keys=keys, args=[rate_per_second, burst, cost]))

    async def take_async(
        self, key: str, rate_per_second: float, burst: float, cost: float = 1.0
    ) -> float:
        check_bucket(rate_per_second, burst, cost)
        keys = [self._key("bucket", key)]
        return float(await self._take_async(keys=keys, args=[rate_per_second, burst, cost]))

    def hit(self, key: str, limit: int, window_seconds: float) -> float:
        keys = [self._key("window", key)]
        return int(self._hit(keys=keys, args=[limit, _millis(window_seconds)])) / 1000

    async def hit_async(self, key: str, limit: int, window_seconds: float) -> float:
        keys = [self._key("window", key)]
        return int(await self._hit_async(keys=keys, args=[limit, _millis(window_seconds)])) / 1000

    def add(self, key: str, amount: int, window_seconds: float) -> int:
        keys = [self._key("window", key)]
        return int(self._add(keys=keys, args=[int(amount), _millis(window_seconds)]))

    def reset(self, key: str) -> None:
        self.client.delete(self._key("bucket", key), self._key("window", key))

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = new_token()
        taken = self.client.set(self._key("lock", name), token, nx=True, px=_millis(ttl_seconds))
        return token if taken else None

    def release(self, name: str, token: str) -> bool:
        return bool(self._release(keys=[self._key("lock", name)], args=[token]))

    def renew(self, name: str, token: str, ttl_seconds: float) -> bool:
        args = [token, _millis(ttl_seconds)]
        return bool(self._renew(keys=[self._key("lock", name)], args=args))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    async def aclose(self) -> None:
        if self.async_client is not None:
            await self.async_client.aclose()


# --- database ------------------------------------------------------------------------------


class SharedCounter(Base):
    """A token bucket (``amount`` tokens at ``stamp``) or a window counter (``amount`` events
    since ``stamp``); times are epoch seconds of the database server. A row past
    ``expires_at`` means a full bucket or an ended window, and may be purged."""

    __tablename__ = "shared_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    amount: Mapped[float] = mapped_column(Double)
    stamp: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class SharedLock(Base):
    """A lock held by ``owner`` (a random token) until ``expires_at`` (epoch seconds)."""

    __tablename__ = "shared_locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Double, index=True)


C = SharedCounter.__table__.c
L = SharedLock.__table__.c


@dataclass(frozen=True)
class _Statements:
    """Every statement of the database backend, built once per dialect: building a
    SQLAlchemy statement costs ten times more CPU than running it, and this is done per API
    request. Parameters: ``b_key`` or ``b_name``, ``b_token`` and the numbers named below
    (bound names may not be column names in an UPDATE)."""

    take: Any  # rate, burst, cost -> the remaining tokens when taken, else no row
    take_wait: Any  # rate, burst, cost -> seconds until the bucket holds ``cost``
    hit: Any  # window -> (count, seconds left in the window)
    add: Any  # delta, window -> the new count
    reset: Any  # b_bucket, b_window: the two keys
    acquire: Any  # ttl -> the owner when taken, else no row
    release: Any
    renew: Any  # ttl
    purge_counters: Any
    purge_locks: Any


def _statements(postgres: bool) -> _Statements:
    if postgres:
        now = literal_column(
            "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS double precision)", Double
        )
    else:
        now = literal_column("((julianday('now') - 2440587.5) * 86400.0)", Double)
    insert = postgresql.insert if postgres else sqlite.insert
    least = func.least if postgres else func.min
    numbers = ("rate", "burst", "cost", "window", "ttl", "delta")
    rate, burst, cost, window, ttl, delta = (bindparam(n, type_=Double) for n in numbers)
    key, name, token = (bindparam(f"b_{n}", type_=String) for n in ("key", "name", "token"))
    # No clamp at 0 on ``now - stamp``: on PostgreSQL a statement that started earlier may
    # update after a later one; its negative elapsed time cancels out exactly (the refills
    # add up to rate x (last stamp - first stamp)), where a clamp would grant time twice.
    refilled = least(burst, C.amount + (now - C.stamp) * rate)
    ended = C.expires_at <= now
    held = (L.name == name) & (L.owner == token) & (L.expires_at > now)
    return _Statements(
        take=insert(SharedCounter)
        .values(key=key, amount=burst - cost, stamp=now, expires_at=now + cost / rate)
        .on_conflict_do_update(
            index_elements=[C.key],
            set_={
                "amount": refilled - cost,
                "stamp": now,
                "expires_at": now + (burst - refilled + cost) / rate,
            },
            where=refilled >= cost,
        )
        .returning(C.amount),
        take_wait=select((cost - refilled) / rate).where(C.key == key),
        hit=insert(SharedCounter)
        .values(key=key, amount=1, stamp=now, expires_at=now + window)
        .on_conflict_do_update(
            index_elements=[C.key],
            set_={
                "amount": case((ended, 1), else_=C.amount + 1),
                "stamp": case((ended, now), else_=C.stamp),
                "expires_at": case((ended, now + window), else_=C.expires_at),
            },
        )
        .returning(C.amount, C.expires_at - now),
        add=insert(SharedCounter)
        .values(key=key, amount=delta, stamp=now, expires_at=now + window)
        .on_conflict_do_update(
            index_elements=[C.key],
            set_={
                "amount": case((ended, delta), else_=C.amount + delta),
                "stamp": case((ended, now), else_=C.stamp),
                "expires_at": case((ended, now + window), else_=C.expires_at),
            },
        )
        .returning(C.amount),
        reset=delete(SharedCounter).where(
            C.key.in_([bindparam("b_bucket"), bindparam("b_window")])
        ),
        acquire=insert(SharedLock)
        .values(name=name, owner=token, expires_at=now + ttl)
        .on_conflict_do_update(
            index_elements=[L.name],
            set_={"owner": token, "expires_at": now + ttl},
            where=L.expires_at <= now,
        )
        .returning(L.owner),
        release=delete(SharedLock).where(held),
        renew=sql_update(SharedLock).where(held).values(expires_at=now + ttl),
        purge_counters=delete(SharedCounter).where(C.expires_at <= now),
        purge_locks=delete(SharedLock).where(L.expires_at <= now),
    )


class DatabaseSharedState(SharedState):
    """Shared state in the ``shared_counters`` and ``shared_locks`` tables (embedded mode)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.postgres = db.write_engine.dialect.name == "postgresql"
        self.sql = _statements(self.postgres)
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection on which each statement is its own transaction: autocommit on
        PostgreSQL (one round trip per statement), ``BEGIN IMMEDIATE`` … ``COMMIT`` on SQLite
        (the write lock first, so concurrent upserts queue instead of deadlocking)."""
        if self.postgres:
            with self.db.write_engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            with self.db.write_engine.begin() as conn:
                yield conn

    def _run(self, statement: Any, **params: Any) -> tuple[list[Any], int]:
        """Run ``statement`` alone in its own short write transaction: the rows it returned
        and the count of rows it changed."""
        if time.monotonic() >= self._next_purge:
            self.purge()
        with self._connection() as conn:
            result = conn.execute(statement, params)
            return (list(result) if result.returns_rows else []), int(result.rowcount or 0)

    def take(self, key: str, rate_per_second: float, burst: float, cost: float = 1.0) -> float:
        check_bucket(rate_per_second, burst, cost)
        params = {"b_key": f"bucket:{key}", "rate": rate_per_second, "burst": burst, "cost": cost}
        if self._run(self.sql.take, **params)[0]:
            return 0.0
        with self.db.read_engine.connect() as conn:  # refused: how long (advisory)
            wait = conn.scalar(self.sql.take_wait, params)
        return max(float(wait or 0.0), 0.001)

    def hit(self, key: str, limit: int, window_seconds: float) -> float:
        rows, _ = self._run(self.sql.hit, b_key=f"window:{key}", window=window_seconds)
        count, remaining = rows[0]
        return 0.0 if count <= limit else max(float(remaining), 0.001)

    def add(self, key: str, amount: int, window_seconds: float) -> int:
        params = {"b_key": f"window:{key}", "delta": amount, "window": window_seconds}
        rows, _ = self._run(self.sql.add, **params)
        return round(rows[0][0])

    def reset(self, key: str) -> None:
        self._run(self.sql.reset, b_bucket=f"bucket:{key}", b_window=f"window:{key}")

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = new_token()
        rows, _ = self._run(self.sql.acquire, b_name=name, b_token=token, ttl=ttl_seconds)
        return token if rows else None

    def release(self, name: str, token: str) -> bool:
        return self._run(self.sql.release, b_name=name, b_token=token)[1] == 1

    def renew(self, name: str, token: str, ttl_seconds: float) -> bool:
        return self._run(self.sql.renew, b_name=name, b_token=token, ttl=ttl_seconds)[1] == 1

    def purge(self) -> None:
        """Delete full buckets, ended windows and expired locks (each means the same as no
        row). Done by every instance every few minutes, in its own transactions."""
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        for statement in (self.sql.purge_counters, self.sql.purge_locks):
            with self._connection() as conn:
                conn.execute(statement)


def shared_state_from_settings(settings: Settings, db: Database) -> SharedState:
    """Redis when ``settings.redis_url`` is set, else the database ``db``."""
    if settings.redis_url:
        return RedisSharedState.from_url(
            settings.redis_url,
            settings.redis_prefix,
            settings.redis_max_connections,
            settings.redis_pool_wait_seconds,
        )
    return DatabaseSharedState(db)


_process_states: dict[tuple[str | None, str, str], SharedState] = {}
_process_states_lock = threading.Lock()


def process_shared_state(settings: Settings) -> SharedState:
    """This process's shared state for ``settings`` (Redis or their database), built once and
    kept open: for tasks and helpers that would otherwise build a client on every call."""
    key = (settings.redis_url, settings.redis_prefix, settings.database_url)
    with _process_states_lock:
        found = _process_states.get(key)
        if found is None:
            found = _process_states[key] = shared_state_from_settings(
                settings, database_for(settings)
            )
        return found
