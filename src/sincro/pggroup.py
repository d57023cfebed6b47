"""Group commit on PostgreSQL: one-statement work that queues while the pool's connections are
busy goes together, in ONE transaction and one round trip, with an answer for each.

A lean reservation is one autocommit statement; about half of PostgreSQL's CPU for it is the
transaction around it (the commit's WAL flush, waking the client, the next round trip). Here
statements submitted to a pool wait in a queue; a *flusher* takes everything queued (up to
``max_batch``), sends it through :meth:`AsyncPool.fetch_together` (psycopg's pipeline mode:
the statements one after the other, then one Sync: one commit, one WAL flush) and hands each
statement its first row once that commit is done. At most ``in_flight`` flushers run (no more
than the pool's connections), so a batch is exactly what queued while the others were in
flight: a lone statement starts at once (no timer), alone, on :meth:`AsyncPool.fetchone` as
before. Fewer flushers make larger batches (fewer commits) under load; more let unrelated
rows' transactions overlap.

- **Order.** Each statement comes with a lock key (for a reservation, its stock level's
  (product, location)); a batch runs its statements in ascending key order, so concurrent
  batches (other connections, other processes) take the hot rows' locks in one order and do
  not deadlock on them.
- **Answers.** A statement that reports an outcome in its row (held, not held, a stored
  idempotency record) must not raise on a business path: a batch is all or nothing, and the
  statements after one that fails are not run.
- **A batch that fails as a whole** (a deadlock or serialization failure, a unique index a
  concurrent twin won, a statement timeout: any error the server reported) was rolled back
  entirely: each statement is then run alone, so each caller gets its own answer or error.
  When the *connection* broke, the batch may have committed: only statements marked
  ``retry_safe`` (an idempotent one, whose re-run replays what committed) are run again; the
  others get the error (a 503), as a lone statement whose connection broke does. Errors
  before any statement ran (no free connection in time, none could be opened) go to every
  caller.

Each caller awaits its own future; one cancelled still has its statement run (its answer is
dropped), as with SQLite's group commit (:mod:`sincro.group_commit`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sincro.pgasync import AsyncPool

log = logging.getLogger("sincro.pggroup")

# statements in one transaction at most: a reservation batch holds its hot rows' locks until
# its commit, and each statement adds ~0.25 ms to that
MAX_BATCH = 32

Row = tuple[Any, ...] | None


@dataclass(slots=True)
class _Item:
    order: tuple[Any, ...]
    query: str | bytes
    params: Mapping[str, Any]
    retry_safe: bool
    future: asyncio.Future[Row]


class StatementGroups:
    """The group commit of one :class:`AsyncPool` (see the module docstring)."""

    def __init__(self, pool: AsyncPool, max_batch: int, in_flight: int | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.pool, self.max_batch = pool, max_batch
        # batches (flushers) at once: at most one per connection
        self.in_flight = min(pool.size, in_flight or pool.size)
        self._pending: deque[_Item] = deque()
        self._flushers: set[asyncio.Task[None]] = set()
        self._starting = False  # a flusher was made and has not taken its batch yet
        self.batches = 0  # batches of two or more sent together (tests, diagnostics)
        self.fallbacks = 0  # batches that failed as a whole and ran one by one

    async def fetchone(
        self,
        query: str | bytes,
        params: Mapping[str, Any],
        *,
        order: tuple[Any, ...],
        retry_safe: bool,
    ) -> Row:
        """``query``'s first row once the batch it went in committed (or its error)."""
        future: asyncio.Future[Row] = self.pool.loop.create_future()
        self._pending.append(_Item(order, query, params, retry_safe, future))
        self._start_flusher()
        return await future

    def _start_flusher(self) -> None:
        if self._pending and not self._starting and len(self._flushers) < self.in_flight:
            self._starting = True
            task = self.pool.loop.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flusher_done)

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        self._flushers.discard(task)
        self._start_flusher()  # a statement queued as this flusher was leaving

    async def _flush(self) -> None:
        while self._pending:
            self._starting = False
            take = min(len(self._pending), self.max_batch)
            batch = [self._pending.popleft() for _ in range(take)]
            self._start_flusher()  # more than one batch queued: another flusher takes it
            try:
                await self._run(batch)
            except BaseException as exc:  # never leave a caller waiting
                for item in batch:
                    _settle(item.future, exc=exc)
                raise
        self._starting = False

    async def _run(self, batch: list[_Item]) -> None:
        if len(batch) == 1:
            await self._alone(batch[0])
            return
        batch.sort(key=lambda item: item.order)
        try:
            rows = await self.pool.fetch_together([(i.query, i.params) for i in batch])
        except DBAPIError as exc:
            self.fallbacks += 1
            log.info("a group of %d statements failed (%s): one by one", len(batch), exc.orig)
            if exc.connection_invalidated:  # it may have committed: re-run what is safe
                for item in batch:
                    if not item.retry_safe:
                        _settle(item.future, exc=exc)
                batch = [item for item in batch if item.retry_safe]
            elif getattr(exc.orig, "sqlstate", None) is None:  # nothing ran
                for item in batch:
                    _settle(item.future, exc=exc)
                return
            await asyncio.gather(*(self._alone(item) for item in batch))
            return
        except Exception as exc:  # no free connection in time: nothing ran
            for item in batch:
                _settle(item.future, exc=exc)
            return
        self.batches += 1
        for item, row in zip(batch, rows, strict=True):
            _settle(item.future, row)

    async def _alone(self, item: _Item) -> None:
        try:
            row = await self.pool.fetchone(item.query, item.params)
        except Exception as exc:
            _settle(item.future, exc=exc)
        else:
            _settle(item.future, row)


def _settle(future: asyncio.Future[Row], row: Row = None, exc: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled: the statement ran all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(row)
