"""HTTP API of the change feed: Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.deps import CurrentKey, StateDep
from sincro.errors import InvalidInput
from sincro.events import STOCK, topic_of, topics
from sincro.feed.hub import EventHub
from sincro.feed.runtime import event_hub
from sincro.feed.tailer import read_events
from sincro.inputs import MAX_SEQUENCE

router = APIRouter(prefix="/v1", tags=["events"])
TopicQuery = Query(description="Topics to receive (repeatable); default: stock only")
MAX_TOPICS = 20
HEARTBEAT_SECONDS = 15.0
BURST_EVENTS = 500


STOCK_EVENT_NAME = b"availability"  # the SSE event name stock changes always had


def format_event(event: dict[str, Any]) -> bytes:
    """One SSE event: ``id`` the sequence, ``event`` the topic (``availability`` for stock)."""
    topic = topic_of(event)
    name = STOCK_EVENT_NAME if topic == STOCK else topic.encode()
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event["seq"], name, orjson.dumps(event))


async def event_stream(
    request: Request,
    hub: EventHub,
    db: Any,
    sku: str | None,
    location: str | None,
    last_event_id: int | None,
    topics: Collection[str] = (STOCK,),
) -> AsyncIterator[bytes]:
    """Backlog after ``last_event_id`` from the outbox, then live events, without gap or repeat."""
    sub = hub.subscribe(sku, location, topics)
    try:
        sent = hub.position if last_event_id is None else last_event_id
        yield b"retry: 1000\n: connected\n\n"
        while last_event_id is not None:
            backlog = await run_in_threadpool(
                read_events, db, sent, hub.position, sku, location, 5000, sub.topics
            )
            for stored in backlog:
                yield format_event(stored)
                sent = stored["seq"]
            if len(backlog) < 5000:
                break
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    event = await sub.queue.get()
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            # what is already queued goes out with it as one chunk: one socket write for a
            # burst (an ERP file commits thousands of events at once) instead of one per event
            chunk: list[bytes] = []
            while event is not None:
                if event["seq"] > sent:
                    chunk.append(format_event(event))
                    sent = event["seq"]
                if len(chunk) >= BURST_EVENTS or sub.queue.empty():
                    break
                event = sub.queue.get_nowait()
            if chunk:
                yield b"".join(chunk)
            if event is None:
                return
    finally:
        hub.unsubscribe(sub)


@router.get(
    "/events/stream",
    summary="Live availability changes and other outbox topics (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    state: StateDep,
    _key: CurrentKey,
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN)] = None,
    location: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQUENCE, description="Same as Last-Event-ID")
    ] = None,
    topic: Annotated[list[str] | None, TopicQuery] = None,
) -> StreamingResponse:
    """Every availability change as an SSE event whose ``id`` is the global sequence number.
    Reconnect with ``Last-Event-ID`` (browsers do it for you) to receive what you missed.

    Without ``topic`` only stock changes are sent (SSE event ``availability``), as always;
    repeat ``topic`` to choose topics (e.g. ``topic=stock&topic=forecast.alert``): an event of
    another topic is named after it and carries ``{seq, topic, payload, at}``. ``sku`` and
    ``location`` filter stock changes and leave out the events of other topics."""
    chosen = _topics(topic)
    resume = _resume_point(last_event_id) if last_event_id else after
    stream = event_stream(request, event_hub(state), state.db, sku, location, resume, chosen)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_point(header: str) -> int:
    """``Last-Event-ID`` as a sequence number, checked before the stream starts (a 422 can
    no longer be sent once the 200 has gone out)."""
    text = header.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQUENCE:
        raise InvalidInput(
            f"Last-Event-ID must be a sequence number from 0 to {MAX_SEQUENCE}",
            field="Last-Event-ID",
        )
    return int(text)


def _topics(requested: list[str] | None) -> frozenset[str]:
    """The topics a stream asked for (stock when none); 422 for a topic nobody registered."""
    if not requested:
        return frozenset({STOCK})
    if len(requested) > MAX_TOPICS:
        raise InvalidInput(f"at most {MAX_TOPICS} topics", field="topic")
    unknown = sorted(set(requested) - topics())
    if unknown:
        raise InvalidInput(f"unknown topic(s): {', '.join(t[:40] for t in unknown)}", field="topic")
    return frozenset(requested)
