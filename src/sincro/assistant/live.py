"""Live conversations: how agents and customers see changes as they happen.

**The database is the source of truth.** Every change (a message, a state change) is
committed with the conversation row; streams only ever read messages after the last ``seq``
they sent, so a reconnect resumes where it stopped, any api process can serve any stream, and
a restarted process loses nothing.

**Wake-ups come from the kernel's outbox.** Whoever changes a conversation publishes one
``assistant.conversation`` event (ids, ``seq`` and state: no text, no personal data) in the
same transaction (:func:`announce`), and one ``assistant.queue`` event when the conversation
left the queue. The feed domain's hub tails the
outbox in every api process (woken at once by local commits, polling for other processes' or
RabbitMQ's fan-out) and dispatches to the process's event bus; the :class:`Waker` here turns
those events into wake-ups of the streams waiting on that conversation, on any change
(:data:`QUEUE`) or on the queue's moves (:data:`WAITING`). A stream also re-reads
every ``SINCRO_ASSISTANT_LIVE_POLL_SECONDS`` without a wake-up: the safety net for a process
without the hub.

**One loop for every stream.** :func:`stream` is the loop of the agents' streams (the queue,
one conversation), the customer's events (SSE or long poll) and the widget's long poll; each
brings only its ``step``: read what is new after its own cursor and say what to send."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.assistant.models import Conversation, Message
from sincro.deps import AppState
from sincro.events import publish, register_topic, topic_of

CHANGE = "assistant.conversation"
QUEUE_MOVED = "assistant.queue"
SERVICE = "assistant.live"
QUEUE = 0  # the key of waiters that care about every conversation (the queue)
WAITING = -1  # the key of waiters that care about the queue's order (places, estimated waits)
HEARTBEAT_SECONDS = 15.0  # a stream that sent nothing for this long sends a keep-alive
CONNECTED = b"retry: 2000\n: connected\n\n"
KEEP_ALIVE = b": keep-alive\n\n"


class ConversationChange(BaseModel):
    """A conversation changed: its last ``seq`` and ``state`` after the change."""

    conversation_id: int
    seq: int
    state: str


class QueueMoved(BaseModel):
    """``conversation_id`` left the queue (taken, or closed while waiting): the places and
    estimated waits of the conversations still waiting changed."""

    conversation_id: int


register_topic(CHANGE, ConversationChange)
register_topic(QUEUE_MOVED, QueueMoved)


def announce(session: Session, conversation: Conversation, *, queue_moved: bool = False) -> None:
    """Tell every api process's live streams that ``conversation`` changed (on commit);
    ``queue_moved`` when it left the queue (:class:`QueueMoved`)."""
    publish(
        session,
        CHANGE,
        ConversationChange(
            conversation_id=conversation.id,
            seq=conversation.messages_count,
            state=conversation.state,
        ),
    )
    if queue_moved:
        publish(session, QUEUE_MOVED, QueueMoved(conversation_id=conversation.id))


class Waker:
    """Waiters of this process keyed by conversation id (or :data:`QUEUE`), woken by the bus.

    Register first (:meth:`waiter`), then read the database, then :meth:`wait`: a change
    committed between the read and the wait has already resolved the waiter, so none is
    missed."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_events(self, batch: list[dict[str, Any]]) -> None:
        """The bus's subscriber (called on the hub's thread or loop)."""
        ids = set()
        moved = False
        for event in batch:
            topic, payload = topic_of(event), event.get("payload")
            if topic == CHANGE and isinstance(payload, dict):
                ids.add(int(payload.get("conversation_id", 0)))
            moved = moved or topic == QUEUE_MOVED
        if (ids or moved) and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake, ids, moved)

    def wake(self, ids: Iterable[int], queue_moved: bool = False) -> None:
        """Resolve the waiters of ``ids`` and of :data:`QUEUE` (and of :data:`WAITING` when
        the queue moved)."""
        for key in {*ids, QUEUE, *((WAITING,) if queue_moved else ())}:
            for future in self._waiters.pop(key, set()):
                if not future.done():
                    future.set_result(None)

    def waiter(self, *keys: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiters.setdefault(key, set()).add(future)
        return future

    def forget(self, future: asyncio.Future[None]) -> None:
        for key in list(self._waiters):
            waiting = self._waiters[key]
            waiting.discard(future)
            if not waiting:
                del self._waiters[key]

    async def wait(self, future: asyncio.Future[None], timeout: float) -> bool:
        """True when woken, False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False
        finally:
            self.forget(future)
        return True


def install(state: AppState) -> None:
    """One waker per api process, fed by the bus (see the module's doc)."""
    waker = state.services[SERVICE] = Waker()
    state.bus.subscribe(waker.on_events, CHANGE)
    state.bus.subscribe(waker.on_events, QUEUE_MOVED)

    async def start() -> None:
        waker.attach(asyncio.get_running_loop())

    state.on_start.append(start)


def waker_of(state: AppState) -> Waker:
    if SERVICE not in state.services:  # an app built without the assistant's runtime
        install(state)
        waker = state.service(SERVICE, Waker)
        waker.attach(asyncio.get_running_loop())
        return waker
    waker = state.service(SERVICE, Waker)
    if waker._loop is None:
        waker.attach(asyncio.get_running_loop())
    return waker


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


Step = Callable[[], Sequence[bytes] | None]


class Client(Protocol):
    """What a stream needs of its request (a Starlette ``Request``)."""

    async def is_disconnected(self) -> bool: ...


async def stream(
    request: Client,
    waker: Waker,
    keys: Sequence[int],
    poll: float,
    step: Step,
    *,
    until: float | None = None,
) -> AsyncGenerator[bytes, None]:
    """The loop of every live stream: Server-Sent Events woken by ``waker``.

    Each round registers a waiter on ``keys`` (before reading: a change committed during the
    read has already woken it), runs ``step`` in the threadpool — it reads what is new after
    its own cursor and returns the chunks to send, or None when what it follows is gone (a
    ``state`` event ``gone`` is sent and the stream ends) — sends the chunks, then waits for a
    wake-up, at most ``poll`` seconds (the safety net). It ends when the client has
    disconnected and sends a keep-alive comment after :data:`HEARTBEAT_SECONDS` of silence.

    With ``until`` (a :func:`time.monotonic` deadline) it is a long poll: no preamble, no
    keep-alives, no ``gone``; it ends after the first round whose step returned chunks (the
    answer), so a step answers at the latest once ``until`` has passed."""
    once = until is not None
    if not once:
        yield CONNECTED
    quiet = time.monotonic()
    while True:
        waiter = waker.waiter(*keys)
        try:
            chunks = await run_in_threadpool(step)
            if chunks is None:
                if not once:
                    yield sse("state", {"state": "gone"})
                return
            for chunk in chunks:
                yield chunk
            if chunks:
                if once:
                    return
                quiet = time.monotonic()
            timeout = min(poll, HEARTBEAT_SECONDS)
            if until is not None:
                timeout = max(0.0, min(timeout, until - time.monotonic()))
            woke = await waker.wait(waiter, timeout)
        finally:
            waker.forget(waiter)
        if not woke and await request.is_disconnected():
            return
        if not once and time.monotonic() - quiet >= HEARTBEAT_SECONDS:
            quiet = time.monotonic()
            yield KEEP_ALIVE


T = TypeVar("T")


async def long_poll(
    request: Client,
    waker: Waker,
    keys: Sequence[int],
    poll: float,
    seconds: float,
    first: T,
    read: Callable[[], T],
    ready: Callable[[T], bool],
) -> T:
    """The latest ``read`` (run in the threadpool) as soon as it is ``ready``, else after
    ``seconds``; ``first`` is a read the caller made already. :func:`stream`'s loop."""
    until = time.monotonic() + seconds
    last = first

    def step() -> list[bytes]:
        nonlocal last
        if not ready(last) and time.monotonic() < until:
            last = read()
        return [b"answer"] if ready(last) or time.monotonic() >= until else []

    async for _ in stream(request, waker, keys, poll, step, until=until):
        pass
    return last


class Cursor:
    """What a conversation's stream has sent: its messages up to ``after``, its last state."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.state: dict[str, Any] | None = None

    def events(self, status: dict[str, Any], messages: Iterable[dict[str, Any]]) -> list[bytes]:
        """``message`` events (id = seq), then a ``state`` event when ``status`` changed."""
        chunks = [sse("message", message, message["seq"]) for message in messages]
        self.after = max(self.after, int(status["seq"]))
        if status != self.state:
            chunks.append(sse("state", status, self.after))
            self.state = status
        return chunks


def read_after(
    session: Session, conversation_id: int, after: int
) -> tuple[Conversation | None, list[Message]]:
    """The conversation and its messages after ``after`` up to the conversation's count as
    read first: a message committed later is left for the next read, never skipped (the
    conversation row and its messages are written in one transaction)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None, []
    last = conversation.messages_count
    if last <= after:
        return conversation, []
    messages = session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.seq > after,
            Message.seq <= last,
        )
        .order_by(Message.seq)
    )
    return conversation, list(messages)
