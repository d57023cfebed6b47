"""One-statement PostgreSQL work on the event loop: a small pool of async psycopg connections.

A hot path that is a single autocommit statement (the lean reservation) spends more CPU
handing the work to a thread and getting the GIL back than on the statement itself: a
``concurrent.futures`` hand-off, a wake-up of the thread, the GIL changing hands twice, the
result posted back to the loop, and SQLAlchemy's pool checkout and checkin around it. Here the
statement is sent and its row awaited on the loop, the request's own task waiting on the
socket like any other I/O.

The same limits as the engines of :mod:`sincro.db`:

- opening a connection is bounded by the connect timeout, and so is waiting for a free one
  (``sqlalchemy.exc.TimeoutError`` then, a 503 like the engines' pool timeout);
- a statement is bounded by the server's ``statement_timeout`` and, should the server go
  silent, client-side: the limit plus a margin later its socket is shut down (what the
  engines' :class:`sincro.db.StatementWatchdog` does), the driver fails at once with a
  connection error (a 503) and the connection is dropped;
- a connection that sat idle for :data:`sincro.db.IDLE_PING_SECONDS` is pinged before use (a
  restarted server shows there, and a fresh connection is opened instead); a connection whose
  statement failed *on the connection* (it is broken) is dropped, one whose statement failed
  in the server (a constraint, say) is kept;
- a pool belongs to the event loop that made it (psycopg's async connections and asyncio's
  primitives are the loop's).

Nothing is retried here: an autocommit statement whose connection broke may have committed,
and only its caller knows whether running it again is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import exc as sa_exc

from sincro.db import IDLE_PING_SECONDS, WATCHDOG_MARGIN_SECONDS, Timeouts, _cut
from sincro.pggroup import MAX_BATCH, StatementGroups

log = logging.getLogger("sincro.db")
IDLE = TransactionStatus.IDLE


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` and alike)."""
    scheme, rest = url.split("://", 1)
    if not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return "postgresql://" + rest


def _wrapped(exc: psycopg.Error, gone: bool) -> sa_exc.StatementError:
    """``exc`` as SQLAlchemy raises a driver's error (a ``DBAPIError`` around it)."""
    return sa_exc.DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=gone)


class _Pooled:
    """A connection and the cursors its statements reuse: ``cursor`` for a lone statement,
    ``batch`` for the statements of a pipeline (one each: a cursor keeps only its last
    result). A new cursor copies the connection's adapters map and learns its loaders again
    on its first result: per statement, that was more than the statement's other client work
    (~a fifth of a batched reservation's api CPU)."""

    __slots__ = ("batch", "conn", "cursor", "since")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn, self.cursor = conn, conn.cursor()
        self.batch: list[psycopg.AsyncCursor[Any]] = []
        self.since = time.monotonic()

    def cursors(self, n: int) -> list[psycopg.AsyncCursor[Any]]:
        """``n`` cursors for one pipeline, made once and reused by the batches after."""
        while len(self.batch) < n:
            self.batch.append(self.conn.cursor())
        return self.batch[:n]


class AsyncPool:
    """Up to ``size`` autocommit connections of one event loop (see the module docstring)."""

    def __init__(
        self,
        url: str,
        timeouts: Timeouts,
        size: int,
        max_batch: int = MAX_BATCH,
        batches_in_flight: int | None = None,
    ) -> None:
        self.conninfo = conninfo(url)
        self.timeouts, self.size = timeouts, size
        self.loop = asyncio.get_running_loop()
        # statements queued while the batches in flight run, committed together
        self.groups = StatementGroups(self, max_batch, batches_in_flight)
        self.opened = 0  # connections opened over the pool's life (tests, diagnostics)
        self._idle: list[_Pooled] = []
        self._free = size  # slots: connections that may be in use at once
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def fetchone(
        self, query: str | bytes, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run ``query`` (one autocommit statement, prepared on the connection) and return its
        first row. Errors are raised as SQLAlchemy raises a driver's (``DBAPIError`` around
        psycopg's, ``connection_invalidated`` when the connection broke), so callers and the
        API's error handlers treat them as the engines' (a 503 when the database is away)."""
        return await self._on_connection(_fetchone, query, params)

    async def fetch_together(
        self, statements: Sequence[tuple[str | bytes, Mapping[str, Any]]]
    ) -> list[tuple[Any, ...] | None]:
        """Run ``statements`` in ONE transaction and one round trip (psycopg's pipeline mode:
        each prepared statement sent after the other, then one Sync, which commits them all
        together — one commit, one WAL flush) and return each one's first row, in order. If
        one fails, none is kept (the Sync rolls the implicit transaction back) and its error is
        raised as :meth:`fetchone` raises it; when the connection broke they may have
        committed, as any statement in flight then."""
        return await self._on_connection(_fetch_together, statements)

    async def _on_connection(self, work: Any, *args: Any) -> Any:
        """``work(pooled, *args)`` on a connection of the pool, within the limits of the
        module docstring."""
        if self._free > 0:
            self._free -= 1
        else:
            await self._wait_for_slot()
        try:
            try:
                pooled = await self._connection()
            except psycopg.Error as exc:
                raise _wrapped(exc, gone=False) from exc
            keep = False
            conn = pooled.conn
            handle = self.loop.call_later(
                self.timeouts.statement + WATCHDOG_MARGIN_SECONDS, _cut, conn
            )
            try:
                answer = await work(pooled, *args)
                keep = True
                return answer
            except psycopg.Error as exc:
                keep = not conn.broken  # failed in the server: the connection is fine
                raise _wrapped(exc, gone=not keep) from exc
            finally:
                handle.cancel()
                self._give_back(pooled, keep)
        finally:
            self._release_slot()

    async def close(self) -> None:
        """Close the idle connections; the pool opens new ones if it is used again."""
        idle, self._idle = self._idle, []
        for pooled in idle:
            try:
                await pooled.conn.close()
            except Exception:  # already gone: nothing to close
                log.debug("closing a pooled async connection failed", exc_info=True)

    def abandon(self) -> None:
        """Drop every idle connection without awaiting (the pool's loop has ended)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for pooled in idle:
            pooled.conn.pgconn.finish()

    async def _wait_for_slot(self) -> None:
        """Wait (up to the connect timeout) until a statement hands its slot over."""
        waiter = self.loop.create_future()
        self._waiting.append(waiter)
        timer = self.loop.call_later(self.timeouts.connect, _expire, waiter, self.timeouts)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release_slot()  # handed over as this task was cancelled: pass it on
            raise
        finally:
            timer.cancel()

    def _release_slot(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the first waiter
                return
        self._free += 1

    async def _connection(self) -> _Pooled:
        """An idle connection (pinged if it sat idle for long) or a new one."""
        while self._idle:
            pooled = self._idle.pop()
            if time.monotonic() - pooled.since < IDLE_PING_SECONDS:
                return pooled
            if await self._alive(pooled.conn):
                return pooled
            pooled.conn.pgconn.finish()
        return _Pooled(await self._connect())

    async def _alive(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        handle = self.loop.call_later(self.timeouts.connect, _cut, conn)
        try:
            await conn.execute("")
            return True
        except psycopg.Error:
            return False
        finally:
            handle.cancel()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        limit = self.timeouts.connect
        try:
            async with asyncio.timeout(limit + WATCHDOG_MARGIN_SECONDS):
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(limit)),
                    options=f"-c statement_timeout={int(self.timeouts.statement * 1000)}",
                    prepare_threshold=0,  # these statements repeat: prepare them at once
                )
        except TimeoutError:  # a server that accepts and never answers
            raise psycopg.OperationalError(f"no connection within {limit} s") from None
        self.opened += 1
        return conn

    def _give_back(self, pooled: _Pooled, keep: bool) -> None:
        pgconn = pooled.conn.pgconn
        # a pipeline left open by an error the driver could not unwind: not reusable
        if (
            keep
            and not self._closed
            and pgconn.transaction_status == IDLE
            and not pgconn.pipeline_status
        ):
            pooled.since = time.monotonic()
            self._idle.append(pooled)
        else:
            pooled.conn.pgconn.finish()


async def _fetchone(
    pooled: _Pooled, query: str | bytes, params: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    await pooled.cursor.execute(query, params, prepare=True)
    return await pooled.cursor.fetchone()


async def _fetch_together(
    pooled: _Pooled, statements: Sequence[tuple[str | bytes, Mapping[str, Any]]]
) -> list[tuple[Any, ...] | None]:
    conn = pooled.conn
    runs = _runs(statements)
    # a cursor per run of the same query, sent as one ``executemany`` (the query converted
    # once, one lock and one wait for the run; each statement still its own prepared
    # execution with its own result): in a pipeline a cursor keeps only its last call's
    # results
    cursors = pooled.cursors(len(runs))
    async with conn.pipeline():
        for cursor, (query, params_seq) in zip(cursors, runs, strict=True):
            await cursor.executemany(query, params_seq, returning=True)
    # leaving the pipeline sent the Sync and read every result: committed
    rows: list[tuple[Any, ...] | None] = []
    for cursor, (_, params_seq) in zip(cursors, runs, strict=True):
        rows.append(await cursor.fetchone())
        for _ in params_seq[1:]:
            cursor.nextset()
            rows.append(await cursor.fetchone())
    return rows


def _runs(
    statements: Sequence[tuple[str | bytes, Mapping[str, Any]]],
) -> list[tuple[str | bytes, list[Mapping[str, Any]]]]:
    """``statements`` in order, consecutive ones of the same query together."""
    runs: list[tuple[str | bytes, list[Mapping[str, Any]]]] = []
    for query, params in statements:
        if runs and runs[-1][0] == query:
            runs[-1][1].append(params)
        else:
            runs.append((query, [params]))
    return runs


def _expire(waiter: asyncio.Future[None], timeouts: Timeouts) -> None:
    if not waiter.done():
        waiter.set_exception(
            sa_exc.TimeoutError(f"no free database connection within {timeouts.connect} s")
        )
