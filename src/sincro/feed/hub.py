"""The per-process event hub of an api replica.

It follows the outbox (polling the table, woken at once by commits made in this process, or
fed by the RabbitMQ fan-out in production), hands each batch, every topic, to ``on_events``
(the kernel's event bus, where subscribers choose topics), and each event to the Server-Sent
Events subscribers of this process that want its topic.

The polls run on a thread of the hub's own, which sleeps until woken (or until the poll
interval passes) and hands each non-empty batch to the event loop in one call: per batch one
hand-off, not a wake-up of the loop, a thread-pool job and its answer (in a reservation storm
the pool's hand-off alone was ~2 % of an api process's samples). Batches are published on the
loop, in order, as :meth:`EventHub.feed` publishes the RabbitMQ fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from sincro.db import is_unavailable
from sincro.events import STOCK, topic_of
from sincro.feed.tailer import OutboxTailer

log = logging.getLogger("sincro.feed")
SUBSCRIBER_QUEUE_SIZE = 10_000
# Polls woken by commits start at least this far apart: in a storm of commits (a flash sale:
# hundreds of reservations a second) each poll then carries many events, instead of one poll
# — a thread hand-off, a query, the GIL changing hands — for nearly every commit
MIN_POLL_GAP_SECONDS = 0.01


@dataclass(eq=False)
class Subscriber:
    """An SSE stream of this process: its topics and, for stock events, SKU and location."""

    sku: str | None = None
    location: str | None = None
    topics: frozenset[str] = frozenset({STOCK})
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
    )

    def wants(self, event: dict[str, Any]) -> bool:
        return (
            topic_of(event) in self.topics
            and (self.sku is None or event.get("sku") == self.sku)
            and (self.location is None or event.get("location") == self.location)
        )


class EventHub:
    def __init__(
        self,
        tailer: OutboxTailer,
        on_events: Callable[[list[dict[str, Any]]], None],
        poll_interval: float = 0.02,
        poll: bool = True,
    ) -> None:
        """``on_events`` gets every batch, all topics. ``poll=False``: do not tail the outbox;
        something else calls :meth:`feed` (the RabbitMQ consumer of :mod:`sincro.feed.amqp`)."""
        self.tailer, self.on_events, self.poll_interval = tailer, on_events, poll_interval
        self.polling = poll
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0
        self._wake = threading.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: threading.Thread | None = None  # the polling thread, once started

    @property
    def position(self) -> int:
        return self.tailer.position

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await run_in_threadpool(self.tailer.start_at_end)
        if self.polling:
            self._task = threading.Thread(target=self._run, name="sincro-event-hub", daemon=True)
            self._task.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await run_in_threadpool(self._task.join, 10)
        for sub in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    def wake(self) -> None:
        """Thread-safe: poll now (called after a commit that wrote events). A wake-up already
        pending covers this one."""
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        """The polling thread: poll, hand a batch to the loop, sleep until woken (a whole
        batch read: poll again at once); polls woken by commits start at least
        ``MIN_POLL_GAP_SECONDS`` apart."""
        loop = self._loop
        assert loop is not None
        while not self._stopping:
            started = time.monotonic()
            try:
                events = self.tailer.poll()
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("event hub: database unavailable (%s); retrying", exc)
                else:
                    log.exception("event hub poll failed; retrying")
                events = []
                self._wake.clear()
                self._wake.wait(1.0)
            if events:
                try:
                    loop.call_soon_threadsafe(self._publish_polled, events)
                except RuntimeError:  # the loop is closed: the process is ending
                    return
                if len(events) >= self.tailer.batch:
                    continue
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            rest = MIN_POLL_GAP_SECONDS - (time.monotonic() - started)
            if rest > 0 and not self._stopping:  # woken soon after the last poll
                time.sleep(rest)

    def _publish_polled(self, events: list[dict[str, Any]]) -> None:
        try:
            self.publish(events)
        except Exception:
            log.exception("event hub: publishing a batch failed")

    def feed(self, events: list[dict[str, Any]]) -> None:
        """Publish events handed over from outside (on the event loop), in order: those at
        or below :attr:`position` were seen already and are dropped."""
        fresh = [event for event in events if event["seq"] > self.tailer.position]
        if fresh:
            self.tailer.start_at(fresh[-1]["seq"])
            self.publish(fresh)

    def publish(self, events: list[dict[str, Any]]) -> None:
        self.on_events(events)
        self.delivered += len(events)
        for sub in list(self.subscribers):
            for event in events:
                if sub.wants(event):
                    try:
                        sub.queue.put_nowait(event)
                    except asyncio.QueueFull:
                        log.warning("SSE subscriber too slow; disconnecting it")
                        self.subscribers.discard(sub)
                        sub.queue = asyncio.Queue(1)
                        sub.queue.put_nowait(None)
                        break

    def subscribe(
        self, sku: str | None, location: str | None, topics: Collection[str] = (STOCK,)
    ) -> Subscriber:
        sub = Subscriber(sku, location, frozenset(topics))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
