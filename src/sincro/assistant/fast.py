"""``POST /v1/assistant/conversations/{id}/messages`` ahead of FastAPI's stack (a
:mod:`sincro.fastroutes` route).

Under load, a customer's message cost the api about as much CPU in FastAPI's plumbing as in
the turn itself: the middleware chain, matching the path against two hundred routes, the
dependency chain (the key, its rate limit, the role), validation, and two thread hand-offs
through anyio (the sync route, then its response validation). This handler does the same steps
directly, in the same order, and runs the turn in the assistant's own threads:

1. **Decide, without effects.** The conversation id a plain decimal within the column's range,
   a JSON content type, a declared length within the route's body cap (nothing chunked), an
   API key in the process's key cache (so the pre-body check of :mod:`sincro.bodylimits`
   would pass), no header sent twice, a body that ``orjson`` parses and the route's own
   :class:`MessageIn` validates (so every field rule is the same: controls refused, the
   length bounds, no extra field). Anything else is handed to the documented route with the
   body replayed, which answers as it always does: no rate-limit token was taken and nothing
   was written before that decision.
2. **Answer as the route would.** The rate limit (429), the channel role (403), the
   deployment's text limit (422 ``text``), then :func:`endpoints.message_turn` — the route's
   own work, with its visibility check (another key's conversation is a 404) — in one write
   transaction, and the reply serialized by the same response model. Errors are rendered by
   the application's exception handlers, and the latency metric is recorded under the route's
   template, by the dispatcher.

``SINCRO_ASSISTANT_FAST_MESSAGES=false`` turns it off; ``sincro_assistant_fast_path_total``
counts what it answered and what it handed over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sincro.access import service as access
from sincro.assistant import endpoints
from sincro.assistant.schemas import MessageIn, ReplyOut
from sincro.bodylimits import route_cap
from sincro.deps import AppState, cached_key, rate_limit
from sincro.fastroutes import FastRequest, FastRoute, Handler
from sincro.inputs import MAX_ROW_ID
from sincro.metrics import decisions

T = TypeVar("T")
METHOD, PATH = "POST", "/v1/assistant/conversations/{conversation_id}/messages"
PREFIX, SUFFIX = PATH.split("{conversation_id}")
TURNS = "assistant.turn_threads"
TURN_THREADS = 20  # the write engine's pool size: a turn holds one connection throughout

FAST_PATH = Counter(
    "sincro_assistant_fast_path_total",
    "POST …/conversations/{id}/messages requests the fast path answered, or handed to the "
    "documented route",
    ["decision"],
)
_REPLY = TypeAdapter(ReplyOut)  # what FastAPI serializes the route's response model with

Decided = tuple[access.Principal, int, MessageIn]


def install(state: AppState) -> None:
    """Register the fast route (unless the deployment turned it off) and its threads."""
    if not state.settings.assistant_fast_messages:
        return
    route = FastRoute(METHOD, PATH, handler(state))
    state.fast_routes[route.key] = route

    async def stop() -> None:
        state.close_threads(TURNS)

    state.on_stop.append(stop)


async def in_turn_thread(state: AppState, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in one of the assistant's turn threads."""
    return await state.in_threads(TURNS, TURN_THREADS, work, *args)


def handler(state: AppState) -> Handler:
    answered, handed_over = decisions(FAST_PATH)
    cap: list[int] = []  # the route's body cap, read at the first request (routes declare it)

    def turn(conversation_id: int, body: MessageIn, key: access.Principal) -> ReplyOut:
        return state.run_write(
            lambda session: endpoints.message_turn(session, state, conversation_id, body, key)
        )

    async def handle(scope: Scope, receive: Receive, send: Send) -> Receive | int:
        if not cap:
            cap.append(route_cap(METHOD, scope["path"]) or state.settings.api_body_max_bytes)
        request = FastRequest(scope, receive)
        path = scope["path"]  # the dispatcher matched PREFIX + one segment + SUFFIX
        decided = await _decide(state, request, path[len(PREFIX) : len(path) - len(SUFFIX)], cap[0])
        if decided is None:
            handed_over.inc()
            return request.hand_over()
        answered.inc()
        key, conversation_id, body = decided
        await rate_limit(state, key)
        key.require(access.Role.channel)
        endpoints.check_text(state.settings, body.text)
        reply = await in_turn_thread(state, turn, conversation_id, body, key)
        response = Response(_REPLY.dump_json(reply, by_alias=True), media_type="application/json")
        await response(scope, receive, send)
        return response.status_code

    return handle


def _row_id(segment: str) -> int | None:
    """The id when the segment is a plain decimal (no sign, no leading zero) in range."""
    if not segment.isascii() or not segment.isdigit() or segment[0] == "0":
        return None
    value = int(segment)
    return value if value <= MAX_ROW_ID else None


async def _decide(state: AppState, request: FastRequest, segment: str, cap: int) -> Decided | None:
    """The key, the conversation id and the body when the request is valid and its key is
    known to this process; None when the documented route must answer (nothing changed)."""
    conversation_id = _row_id(segment)
    headers = request.headers
    if conversation_id is None or not request.sends_json:
        return None
    key = cached_key(state, headers.get("x-api-key"), headers.get("authorization"))
    if key is None:
        return None
    data = await request.json_object(cap)
    if data is None:
        return None
    try:
        body = MessageIn.model_validate(data)
    except ValidationError:
        return None
    return key, conversation_id, body
