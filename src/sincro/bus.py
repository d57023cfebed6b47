"""In-process fan-out of committed outbox events to the subscribers of this process.

The feed domain fills the bus (its hub tails the outbox, or consumes the RabbitMQ fan-out);
any domain subscribes to it (the availability cache, metrics). The kernel knows neither side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sincro.bus")
Batch = list[dict[str, Any]]
Subscriber = Callable[[Batch], None]


class EventBus:
    """Subscribers are called in the order they subscribed, on the hub's thread or loop; one
    that raises is logged and does not keep the others from their events."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def dispatch(self, batch: Batch) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(batch)
            except Exception:
                log.exception("event subscriber %r failed", subscriber)
