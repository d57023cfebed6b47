"""In-process fan-out of committed outbox events to the subscribers of this process.

The feed domain fills the bus (its hub tails the outbox, or consumes the RabbitMQ fan-out);
any domain subscribes to it, to every event or to one topic (the availability cache takes
``stock`` only, see :mod:`sincro.events`). The kernel knows neither side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sincro.events import STOCK, topic_of

log = logging.getLogger("sincro.bus")
Batch = list[dict[str, Any]]
Subscriber = Callable[[Batch], None]


class EventBus:
    """Subscribers are called in the order they subscribed, on the hub's thread or loop; one
    that raises is logged and does not keep the others from their events. They must not
    change the batch they are handed (it may be the one the others get)."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, str | None]] = []

    def subscribe(self, subscriber: Subscriber, topic: str | None = None) -> None:
        """Hand ``subscriber`` every batch, or with ``topic`` only that topic's events of
        each batch (in order; batches without any are not handed over)."""
        self._subscribers.append((subscriber, topic))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers = [entry for entry in self._subscribers if entry[0] != subscriber]

    def dispatch(self, batch: Batch) -> None:
        # most batches are stock events only (they carry no topic, see topic_of): then one
        # look at each event, not one pass of topic_of per subscriber of a topic
        stock_only = not [e for e in batch if "topic" in e]
        for subscriber, topic in self._subscribers:
            if topic is None or (stock_only and topic == STOCK):
                events = batch
            elif stock_only:
                continue
            else:
                events = [e for e in batch if topic_of(e) == topic]
            if not events:
                continue
            try:
                subscriber(events)
            except Exception:
                log.exception("event subscriber %r failed", subscriber)
