"""Wake-ups for outbox readers on PostgreSQL, the sending half: after a commit that wrote
events, :func:`signal_commit` has this process's :class:`Notifier` send ``NOTIFY
sincro_events`` on its own autocommit connection, coalescing every commit signalled meanwhile
into one notification (at most one per ``MIN_GAP_SECONDS``). The writer only sets a
``threading.Event``.

NOTIFY is deliberately *not* issued inside the writers' transactions (nor by a trigger):
PostgreSQL serialises the commits of every transaction that notified on one global lock, which
would cap a reservation storm at the commit rate of a single session. The receiving halves
(the event hub's listener, :mod:`sincro.feed.notify`; beat's waker, :mod:`sincro.beat`) wait
with :class:`NotifyWaiter`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import threading
import time
from typing import Any

log = logging.getLogger("sincro.feed")
CHANNEL = "sincro_events"
MIN_GAP_SECONDS = 0.01  # what the hubs' polls allow too (feed.hub.MIN_POLL_GAP_SECONDS)
RECONNECT_SECONDS = 1.0


def connect(url: str) -> Any:
    """An autocommit psycopg connection to a PostgreSQL URL (any SQLAlchemy spelling)."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(plain, autocommit=True, connect_timeout=5)


class NotifyWaiter:
    """Waits on a LISTEN connection until a notification arrives, a timeout passes or another
    thread calls :meth:`interrupt`, asleep in ``select`` all along: psycopg's own
    ``notifies(timeout=…)`` wakes every 0.1 s to look for signals, which kept an idle listener
    thread at ~0.05–0.08 % of a core."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def wait(self, conn: Any, timeout: float | None) -> list[Any]:
        """The notifications received (perhaps none: timed out or interrupted)."""
        waiting = list(conn.notifies(timeout=0))  # already read, or already in the socket
        if waiting:
            return waiting
        ready, _, _ = select.select([conn.fileno(), self._read], [], [], timeout)
        if self._read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 512)
        return list(conn.notifies(timeout=0))  # a closed connection raises here

    def interrupt(self) -> None:
        with contextlib.suppress(OSError):  # full (already interrupted) or closed
            os.write(self._write, b"!")

    def close(self) -> None:
        """Release the pipe (once the waiting thread is gone)."""
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._read = self._write = -1


class Notifier:
    """Sends one NOTIFY per burst of commits of this process (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self._asked = self._done = 0  # commits signalled / covered by a NOTIFY sent
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def signal(self) -> None:
        """Thread-safe, cheap: a commit with events just happened."""
        self._asked += 1
        if not self._due.is_set():  # a NOTIFY already due covers this commit too
            self._due.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="sincro-feed-notify", daemon=True
                    )
                    self._thread.start()
                    atexit.register(self.flush)

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (bounded) until every commit signalled so far was notified: a CLI command or
        a task process that exits right after its commit still wakes the readers."""
        deadline = time.monotonic() + timeout
        while self._done < self._asked and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self) -> None:
        conn = None
        while True:
            self._due.wait()
            self._due.clear()
            asked = self._asked
            try:
                if conn is None:
                    conn = connect(self.url)
                conn.execute(f"NOTIFY {CHANNEL}")
                self.sent += 1
                self._done = asked
            except Exception as exc:  # the database is away: readers fall back on their poll
                log.warning("feed notify failed (%s); retrying", exc)
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = None
                time.sleep(RECONNECT_SECONDS)
            time.sleep(MIN_GAP_SECONDS)


_notifiers: dict[str, Notifier] = {}
_notifiers_lock = threading.Lock()


def notifier_for(url: str) -> Notifier:
    """The process's notifier for a PostgreSQL database URL."""
    found = _notifiers.get(url)
    if found is None:
        with _notifiers_lock:
            found = _notifiers.setdefault(url, Notifier(url))
    return found


def signal_commit(url: str) -> None:
    """A transaction that wrote events committed on the PostgreSQL database ``url``."""
    notifier_for(url).signal()
