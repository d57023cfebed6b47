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
    future: Future[T]


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
        item: _Item[T] = _Item(work, Future())
        with self._lock:  # put and the thread check together: a thread leaving sees the item
            self._queue.put(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sincro-group-commit", daemon=True
                )
                self._thread.start()
        return item.future

    def run(self, work: Unit[T]) -> T:
        """``work`` through the writer, waiting for its answer (blocking)."""
        return self.submit(work).result()

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
                self._group(batch)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("group commit failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _group(self, batch: list[_Item[Any]]) -> None:
        answers: list[tuple[bool, Any]] = []  # (raised, answer or exception) per item
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
                failed = self._translated(fairy, exc)
                for item in batch:
                    item.future.set_exception(failed)
                return
        finally:
            self.groups += 1
            fairy.close()
        for item, (raised, answer) in zip(batch, answers, strict=True):
            if raised:
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)

    def _translated(self, fairy: Any, exc: Exception) -> BaseException:
        """``exc`` as SQLAlchemy would raise it (see :func:`sincro.db.raise_as_sqlalchemy`)."""
        try:
            raise_as_sqlalchemy(self.engine, fairy, exc)
        except BaseException as shown:
            return shown
        return exc
