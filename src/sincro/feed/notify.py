"""Wake-ups for outbox readers on PostgreSQL, the receiving half: LISTEN/NOTIFY instead of
polling the outbox at 50 Hz.

Every process that commits events notifies after the commit (:mod:`sincro.outbox_notify`,
coalesced, outside the writers' transactions). :class:`Listener` keeps a connection that
LISTENs and calls ``wake()`` on each notification (the event hub then polls the tailer at
once); it reconnects after a failure and wakes once more when listening again. The hub keeps a
slow safety poll (``SINCRO_FEED_IDLE_POLL_SECONDS``) for holes left by rolled-back
transactions and for the time a listener is reconnecting.

SQLite (embedded mode) keeps polling: there is no server to notify through, and commits made
in the api's own process wake its hub directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sincro.outbox_notify import CHANNEL, RECONNECT_SECONDS, NotifyWaiter, connect

log = logging.getLogger("sincro.feed")


class Listener:
    """LISTENs on its own connection in a thread; ``wake()`` on every notification."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self.url, self.wake = url, wake
        self.received = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiter = NotifyWaiter()
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sincro-feed-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._waiter.interrupt()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._thread is None or not self._thread.is_alive():
            self._waiter.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.url) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.wake()  # whatever was committed while we were not listening
                    while not self._stop.is_set():
                        for _ in self._waiter.wait(conn, None):  # asleep until one comes
                            self.received += 1
                            self.wake()
            except Exception as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("feed listener lost its connection (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_SECONDS)
