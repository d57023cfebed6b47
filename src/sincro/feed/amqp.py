"""The api side of the RabbitMQ fan-out: feeds this process's :class:`EventHub`.

Each api process binds its own exclusive, auto-delete queue to the relay's fanout exchange
(see :mod:`sincro.feed.relay`) and consumes it in a background thread. Every message says
which position it follows (``prev``); the consumer keeps the position of what it handed to
the hub, and:

* ``prev`` equal to it: the events are handed over as they are;
* ``prev`` ahead of it (messages were missed: the queue did not exist yet, the connection
  dropped, ...): the missing events are first read from the outbox table, then handed over;
* events at or below it (a batch published twice, or already read from the table): dropped.

On every (re)connection, and every few seconds when idle, it also catches up to the relay's
stored position, so a message lost while disconnected is recovered even if no other follows.
Batches reach the hub on its event loop, in order, through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from kombu import Connection, Message, Queue

from sincro.config import Settings
from sincro.db import Database
from sincro.feed import repository as repo
from sincro.feed.hub import EventHub
from sincro.feed.relay import cursor_name, events_exchange
from sincro.feed.tailer import read_events

log = logging.getLogger("sincro.feed.amqp")

HEARTBEAT_SECONDS = 30
RECONNECT_SECONDS = 1.0
IDLE_CHECK_SECONDS = 5.0
CATCH_UP_PAGE = 5000


class AmqpFeed:
    """Consumes the events exchange in a thread and hands each batch to ``hub``, in order."""

    def __init__(self, settings: Settings, db: Database, hub: EventHub) -> None:
        self.settings, self.db, self.hub = settings, db, hub
        self.exchange = events_exchange(settings.events_exchange)
        self.position = 0
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start consuming from the hub's current position (call after ``hub.start()``)."""
        self._loop = loop
        self.position = self.hub.position
        self._thread = threading.Thread(target=self._run, name="sincro-amqp-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop consuming (blocks up to ``timeout`` seconds for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception:
                log.warning("event consumer lost RabbitMQ; reconnecting", exc_info=True)
            self.ready.clear()
            self._stop.wait(RECONNECT_SECONDS)

    def _queue(self) -> Queue:
        name = f"{self.exchange.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        return Queue(name, exchange=self.exchange, exclusive=True, auto_delete=True, durable=False)

    def _consume(self) -> None:
        with Connection(self.settings.broker_url, heartbeat=HEARTBEAT_SECONDS) as conn:
            queue = self._queue()
            with conn.Consumer(queue, callbacks=[self._on_message], accept=["json"], no_ack=True):
                self.catch_up(self._relay_position())
                self.ready.set()
                log.info("event consumer bound", extra={"queue": queue.name})
                idle_check = time.monotonic() + IDLE_CHECK_SECONDS
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=1.0)
                        idle_check = time.monotonic() + IDLE_CHECK_SECONDS
                    except TimeoutError:
                        conn.heartbeat_check()
                        if time.monotonic() >= idle_check:
                            self.catch_up(self._relay_position())
                            idle_check = time.monotonic() + IDLE_CHECK_SECONDS

    def _on_message(self, body: dict[str, Any], _message: Message) -> None:
        self.handle(int(body["prev"]), body["events"])

    def handle(self, prev: int, events: list[dict[str, Any]]) -> None:
        """Apply one relay message: catch up from the table first if messages were missed."""
        if prev > self.position:
            self.catch_up(prev)
        self._hand([event for event in events if event["seq"] > self.position])

    def catch_up(self, upto: int) -> None:
        """Hand over the stored events in (position, upto] that this consumer has not seen."""
        while self.position < upto:
            backlog = read_events(self.db, self.position, upto, None, None, CATCH_UP_PAGE)
            if not backlog:
                self.position = upto
                return
            log.info("event consumer caught up from the outbox", extra={"events": len(backlog)})
            self._hand(backlog)

    def _relay_position(self) -> int:
        with self.db.read() as session:
            return repo.get_feed_cursor(session, cursor_name(self.exchange.name)) or 0

    def _hand(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        self.position = events[-1]["seq"]
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self.hub.feed, events)
        except RuntimeError:
            log.info("event loop closed; stopping the event consumer")
            self._stop.set()
