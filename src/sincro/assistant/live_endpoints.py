"""The customer side of a live conversation: what the agents say and how the state changes.

``GET /v1/assistant/conversations/{id}/events?after=seq`` — Server-Sent Events (``message``
events with the ``seq`` as event id, ``state`` events with the queue position and estimated
wait while waiting); a reconnect resumes from ``Last-Event-ID`` (or ``after``). A client that
asks for ``application/json`` gets a long poll instead: one JSON answer as soon as there is
something after ``after`` (or after ``wait`` seconds, empty).

Only what the customer should see travels: messages of agents and system notices (the bot's
replies are the answers to the customer's own requests), never the agent's full name, never
another conversation.

**Authorisation is pluggable.** Here an API key (admin, or the channel key that started the
conversation: the integrator's server relays to its customers; another's is a 404;
:func:`events_response` serves any route that authorised the request). The web widget has its
own long poll with the per-conversation token (:mod:`sincro.assistant.widget.endpoints`) over
the same loop (:func:`sincro.assistant.live.long_poll`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sincro.access.service import Principal, Role
from sincro.assistant import agents, live, queue
from sincro.assistant.endpoints import visible
from sincro.assistant.models import Conversation, Message
from sincro.deps import AppState, StateDep, role
from sincro.errors import NotFound, error_responses
from sincro.inputs import MAX_ROW_ID

router = APIRouter(prefix="/v1/assistant", tags=["assistant"])

CUSTOMER_SENDERS = frozenset({"agent", "system"})
MAX_LONG_POLL_SECONDS = 30
ConversationReader = Annotated[Principal, Depends(role(Role.admin, Role.channel))]
ConversationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def customer_message(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "at": message.created_at.isoformat(),
    }
    event = (message.payload or {}).get("event")
    if event:
        data["event"] = event
    if message.sender == "agent" or event == "taken":
        data["agent"] = (message.payload or {}).get("agent")
    return data


def _state_of(session: Any, state: AppState, conversation: Conversation) -> dict[str, Any]:
    out: dict[str, Any] = {"state": conversation.state, "seq": conversation.messages_count}
    if conversation.state == "waiting_agent":
        place, minutes = queue.standing(session, conversation, state.settings)
        out["position"] = place
        out["reply_by_email"] = conversation.reply_by_email
        out["estimated_wait_minutes"] = minutes
    if conversation.state == "closed":
        out["csat_asked"] = conversation.csat_asked_at is not None and conversation.csat is None
    return out


def _read(state: AppState, conversation_id: int, after: int) -> tuple[dict[str, Any], list[Any]]:
    with state.db.read() as session:
        conversation, messages = live.read_after(session, conversation_id, after)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
        shown = [customer_message(m) for m in messages if m.sender in CUSTOMER_SENDERS]
        return _state_of(session, state, conversation), shown


def _keys(conversation_id: int) -> tuple[int, int]:
    """A customer's stream wakes on its conversation and when the queue moves (its place)."""
    return conversation_id, live.WAITING


def _stream(
    request: Request, state: AppState, conversation_id: int, after: int
) -> AsyncIterator[bytes]:
    cursor = live.Cursor(after)

    def step() -> list[bytes] | None:
        try:
            status, messages = _read(state, conversation_id, cursor.after)
        except NotFound:
            return None
        return cursor.events(status, messages)

    poll = state.settings.assistant_live_poll_seconds
    return live.stream(request, live.waker_of(state), _keys(conversation_id), poll, step)


async def events_response(
    request: Request,
    state: AppState,
    conversation_id: int,
    after: int,
    last_event_id: str | None,
    wait: int,
) -> Response:
    """The stream (or the long poll) of one conversation for its customer, once the caller
    has authorised the request. 404 for a conversation that does not exist."""
    if last_event_id and last_event_id.strip().isdigit():
        after = max(after, min(int(last_event_id.strip()), MAX_ROW_ID))
    first_state, first_messages = await run_in_threadpool(_read, state, conversation_id, after)
    if "application/json" in request.headers.get("accept", ""):
        return await _long_poll(
            request, state, conversation_id, after, wait, first_state, first_messages
        )
    return StreamingResponse(
        _stream(request, state, conversation_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _long_poll(
    request: Request,
    state: AppState,
    conversation_id: int,
    after: int,
    wait: int,
    status: dict[str, Any],
    messages: list[Any],
) -> Response:
    status, messages = await live.long_poll(
        request,
        live.waker_of(state),
        _keys(conversation_id),
        state.settings.assistant_live_poll_seconds,
        wait,
        (status, messages),
        lambda: _read(state, conversation_id, after),
        lambda read: bool(read[1]) or read[0]["seq"] > after,
    )
    return JSONResponse(
        {"events": messages, "state": status, "last_seq": max(after, int(status["seq"]))}
    )


@router.get(
    "/conversations/{conversation_id}/events",
    summary="A conversation's agent messages and state changes, live (SSE or long poll)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}, "application/json": {}}},
        **error_responses(404),
    },
)
async def conversation_events(
    request: Request,
    conversation_id: ConversationId,
    state: StateDep,
    key: ConversationReader,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Last seq already seen")] = 0,
    wait: Annotated[
        int, Query(ge=0, le=MAX_LONG_POLL_SECONDS, description="Long poll: seconds to wait")
    ] = 25,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    """Server-Sent Events of what the customer should see after `after`: `message` events
    (agents' messages and system notices such as "Ana está com você", "atendimento
    encerrado", the rating question; id = the message's `seq`) and `state` events (`state`,
    and while waiting `position`, `estimated_wait_minutes`, `reply_by_email`). Reconnects
    resume from `Last-Event-ID`. With `Accept: application/json`: a long poll answering
    `{"events", "state", "last_seq"}` as soon as there is something new, or after `wait`
    seconds. A channel key reads only the conversations it started (another's: 404)."""

    def check() -> None:
        with state.db.read() as session:
            visible(session, conversation_id, key)

    await run_in_threadpool(check)
    return await events_response(request, state, conversation_id, after, last_event_id, wait)


class CsatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5, strict=True, description="1 (muito ruim) to 5 (ótimo)")


class CsatOut(BaseModel):
    conversation_id: int
    csat: int


@router.post(
    "/conversations/{conversation_id}/csat",
    summary="The customer's rating of a closed conversation",
    response_model=CsatOut,
    responses=error_responses(404, 409),
)
async def rate_conversation(
    conversation_id: ConversationId, body: CsatIn, state: StateDep, key: ConversationReader
) -> CsatOut:
    """Record the 1–5 rating the agent asked for when closing (409 when none was asked or it
    was already given). A channel key rates only the conversations it started (another's:
    404)."""

    def work(session: Any) -> CsatOut:
        visible(session, conversation_id, key)
        conversation = agents.record_csat(session, conversation_id, body.score)
        return CsatOut(conversation_id=conversation.id, csat=body.score)

    return await run_in_threadpool(state.run_write, work)
