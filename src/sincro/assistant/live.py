"""Live conversations: how agents and customers see changes as they happen.

**The database is the source of truth.** Every change (a message, a state change) is
committed with the conversation row; streams only ever read messages after the last ``seq``
they sent, so a reconnect resumes where it stopped, any api process can serve any stream, and
a restarted process loses nothing.

**Wake-ups come from the kernel's outbox.** Whoever changes a conversation publishes one
``assistant.conversation`` event (ids, ``seq`` and state: no text, no personal data) in the
same transaction (:func:`announce`). The feed domain's hub tails the outbox in every api
process (woken at once by local commits, polling for other processes' or RabbitMQ's fan-out)
and dispatches to the process's event bus; the :class:`Waker` here turns those events into
wake-ups of the streams waiting on that conversation (or on the queue). A stream also re-reads
every ``SINCRO_ASSISTANT_LIVE_POLL_SECONDS`` without a wake-up: the safety net for a process
without the hub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.assistant.models import Conversation, Message
from sincro.deps import AppState
from sincro.events import publish, register_topic, topic_of

CHANGE = "assistant.conversation"
SERVICE = "assistant.live"
QUEUE = 0  # the key of waiters that care about every conversation (the queue)


class ConversationChange(BaseModel):
    """A conversation changed: its last ``seq`` and ``state`` after the change."""

    conversation_id: int
    seq: int
    state: str


register_topic(CHANGE, ConversationChange)


def announce(session: Session, conversation: Conversation) -> None:
    """Tell every api process's live streams that ``conversation`` changed (on commit)."""
    publish(
        session,
        CHANGE,
        ConversationChange(
            conversation_id=conversation.id,
            seq=conversation.messages_count,
            state=conversation.state,
        ),
    )


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
        for event in batch:
            if topic_of(event) == CHANGE and isinstance(event.get("payload"), dict):
                ids.add(int(event["payload"].get("conversation_id", 0)))
        if ids and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake, ids)

    def wake(self, ids: Iterable[int]) -> None:
        for key in {*ids, QUEUE}:
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
