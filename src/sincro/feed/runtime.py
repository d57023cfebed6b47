"""The feed's long-lived objects in an api process: the event hub (tailing the outbox, or fed
by the RabbitMQ fan-out) that fills the kernel's event bus; and the relay process that
``sincro serve`` supervises when the broker is RabbitMQ."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from starlette.concurrency import run_in_threadpool

from sincro import events
from sincro.config import Settings
from sincro.deps import AppState
from sincro.feed.hub import EventHub
from sincro.feed.metrics import EVENTS_DELIVERED, FEED_POSITION
from sincro.feed.notify import Listener
from sincro.feed.tailer import OutboxTailer

HUB = "feed.hub"
AMQP = "feed.amqp"
LISTENER = "feed.listener"


def install(state: AppState) -> None:
    """Build the hub, feed the bus from it, and start/stop it with the api process."""
    settings = state.settings

    def on_events(batch: list[dict[str, Any]]) -> None:
        state.bus.dispatch(batch)
        EVENTS_DELIVERED.inc(len(batch))

    tailer = OutboxTailer(state.db, gap_timeout=settings.feed_gap_timeout_seconds)
    # PostgreSQL: woken by LISTEN/NOTIFY, polled only as a safety net; SQLite: polled
    listen = not settings.broker_is_amqp and not settings.is_sqlite
    hub = EventHub(
        tailer,
        on_events,
        poll_interval=settings.feed_idle_poll_seconds
        if listen
        else settings.feed_poll_interval_seconds,
        poll=not settings.broker_is_amqp,  # with RabbitMQ, the relay's fan-out feeds the hub
    )
    state.services[HUB] = hub
    listener = Listener(settings.database_url, hub.wake) if listen else None
    if listener is not None:
        state.services[LISTENER] = listener

    async def start() -> None:
        await hub.start()
        if listener is not None:
            listener.start()
        if settings.broker_is_amqp:
            from sincro.feed.amqp import AmqpFeed

            amqp_feed = state.services[AMQP] = AmqpFeed(settings, state.db, hub)
            amqp_feed.start(asyncio.get_running_loop())
        events.add_commit_listener(hub.wake)

    async def stop() -> None:
        events.remove_commit_listener(hub.wake)
        if listener is not None:
            await run_in_threadpool(listener.stop)
        amqp_feed = state.services.pop(AMQP, None)
        if amqp_feed is not None:
            await run_in_threadpool(amqp_feed.stop)
        await hub.stop()

    state.on_start.append(start)
    state.on_stop.append(stop)
    state.on_scrape.append(lambda: FEED_POSITION.set(hub.position))


def event_hub(state: AppState) -> EventHub:
    return state.service(HUB, EventHub)


def children(settings: Settings) -> dict[str, list[str]]:
    """The relay publishes the outbox to RabbitMQ; it runs only with an AMQP broker."""
    if not settings.broker_is_amqp:
        return {}
    return {"relay": [sys.executable, "-m", "sincro.cli", "relay"]}
