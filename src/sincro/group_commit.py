"""Group commit on SQLite: one writer thread per database that runs small write units
together, several in ONE transaction, each in a savepoint of its own.

SQLite has one write lock per database file. Forty threads each taking it for a one-line
reservation (``BEGIN IMMEDIATE``, seven statements, ``COMMIT``) queue on it through
SQLite's busy handler, which polls in growing sleeps (1, 2, 5 … 100 ms): whoever arrives
while the lock is held sleeps past the moment it is free, and a thread unlucky a few times
in a row waits seconds. Every statement also drops and retakes the GIL among those threads.

Here units wait in a queue instead; the writer takes everything queued (up to ``max_batch``),
begins once, runs each unit between ``SAVEPOINT`` and ``RELEASE`` and commits once. A unit
that raises, or that says it keeps nothing, is rolled back to its savepoint alone: the
others' effects stay, and its caller gets its exception or its answer. Answers are handed
out only after the COMMIT; if the COMMIT (or the BEGIN) fails, every unit of the group gets
that error — nothing of the group was kept, and an answer read inside it (e.g. "sold out"
because an earlier unit took the last units) would not hold either. So each unit's effect is
all or nothing and answered only once durable, exactly as with a transaction of its own.

The thread starts on first use and ends after ``idle_seconds`` without work (an engine per
test or tool leaves no thread behind).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from sincro.db import raise_as_sqlalchemy

log = logging.getLogger("sincro.group_commit")

T = TypeVar("T")
# a unit of work: given the raw sqlite3 connection inside the group's transaction, it returns
# (keep, answer); keep False rolls its statements back (it changed nothing worth keeping)
Unit = Callable[[Any], tuple[bool, T]]

MAX_BATCH = 64
IDLE_SECONDS = 5.0


@dataclass(slots=True)
class _Item(Generic[T]):
    work: Unit[T]
    future: Future[T] | asyncio.Future[T]
    loop: asyncio.AbstractEventLoop | None = None  # an asyncio future's loop


# what a unit came to: (raised, its answer or its exception)
Answer = tuple[bool, Any]


class GroupCommit:
    """The writer of one SQLite engine (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Item[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.groups = 0  # transactions committed or failed (for tests and metrics)

    def submit(self, work: Unit[T]) -> Future[T]:
        """Queue ``work``; its future ends with its answer once its group committed, or with
        its own exception, or with the group's error."""
        future: Future[T] = Future()
        self._put(_Item(work, future))
        return future

    async def run_async(self, work: Unit[T]) -> T:
        """``work`` through the writer, awaited on the running loop: the answers of a group
        reach each loop in ONE call (one wake-up of the loop per group, not per unit)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Item(work, future, loop))
        return await future

    def run(self, work: Unit[T]) -> T:
        """``work`` through the writer, waiting for its answer (blocking)."""
        return self.submit(work).result()

    def _put(self, item: _Item[Any]) -> None:
        with self._lock:  # put and the thread check together: a thread leaving sees the item
            self._queue.put(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sincro-group-commit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = self._group(batch)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("group commit failed")
                answers = [(True, exc)] * len(batch)
            _deliver(batch, answers)

    def _group(self, batch: list[_Item[Any]]) -> list[Answer]:
        answers: list[Answer] = []
        fairy = self.engine.raw_connection()
        try:
            conn: Any = fairy.driver_connection
            try:
                conn.execute("BEGIN IMMEDIATE")
                kept = False
                for item in batch:
                    conn.execute("SAVEPOINT unit")
                    try:
                        keep, answer = item.work(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO unit")
                        answers.append((True, self._translated(fairy, exc)))
                    else:
                        if not keep:
                            conn.execute("ROLLBACK TO unit")
                        kept = kept or keep
                        answers.append((False, answer))
                    conn.execute("RELEASE unit")
                conn.execute("COMMIT" if kept else "ROLLBACK")
            except Exception as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except Exception:
                        log.debug("rollback after a failed group failed too", exc_info=True)
                return [(True, self._translated(fairy, exc))] * len(batch)
        finally:
            self.groups += 1
            fairy.close()
        return answers

    def _translated(self, fairy: Any, exc: Exception) -> BaseException:
        """``exc`` as SQLAlchemy would raise it (see :func:`sincro.db.raise_as_sqlalchemy`)."""
        try:
            raise_as_sqlalchemy(self.engine, fairy, exc)
        except BaseException as shown:
            return shown
        return exc


def _deliver(batch: list[_Item[Any]], answers: list[Answer]) -> None:
    """Hand each unit its answer: a blocking caller's future at once, the asyncio futures of
    each loop in one thread-safe call on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Answer]]] = {}
    for item, answer in zip(batch, answers, strict=True):
        if item.loop is None:
            _settle(item.future, answer)
        else:
            by_loop.setdefault(item.loop, []).append((item.future, answer))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, settled)
        except RuntimeError:  # that loop is closed: nobody awaits its answers any more
            log.debug("group commit: answers for a closed event loop dropped")


def _settle_all(settled: list[tuple[Any, Answer]]) -> None:
    for future, answer in settled:
        _settle(future, answer)


def _settle(future: Future[Any] | asyncio.Future[Any], answer: Answer) -> None:
    if future.done():  # an awaiting task was cancelled: its unit ran all the same
        return
    raised, value = answer
    if raised:
        future.set_exception(value)
    else:
        future.set_result(value)
