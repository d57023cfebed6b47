"""The widget's public endpoints (no API key: a site key, then the conversation's token) and
the site keys' admin API (admin keys).

Every public request is first counted against its client address (``sincro.clients``: the
forwarded address only from a trusted proxy) in the shared state, then against its site key's
own budget; bodies are capped at ``SINCRO_ASSISTANT_PUBLIC_BODY_MAX_BYTES``."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.assistant import live
from sincro.assistant.widget import cors, public, sitekeys
from sincro.assistant.widget.schemas import (
    ActionOut,
    PublicConversationOut,
    PublicMessageIn,
    PublicMessageOut,
    PublicMessagesOut,
    PublicReplyOut,
    SiteKeyIn,
    SiteKeyOut,
)
from sincro.bodylimits import declare_public
from sincro.clients import client_address
from sincro.deps import AdminKey, StateDep, row_id_path
from sincro.errors import Forbidden, RateLimited, error_responses
from sincro.inputs import MAX_ROW_ID

PUBLIC = "/v1/assistant/public"
CONVERSATIONS = f"{PUBLIC}/conversations"
MESSAGES = f"{PUBLIC}/conversations/{{conversation_id}}/messages"

public_router = APIRouter(tags=["assistant widget"], route_class=cors.PublicRoute)
admin_router = APIRouter(prefix="/v1/assistant/site-keys", tags=["assistant widget"])

PUBLIC_BODIES = (("POST", CONVERSATIONS), ("POST", MESSAGES))
for _method, _path in PUBLIC_BODIES:
    declare_public(_method, _path)  # caps: runtime.install, from the process's settings

ConversationId = Annotated[int, row_id_path("Conversation id")]
SiteKeyHeader = Annotated[
    str | None, Header(alias="X-Site-Key", max_length=200, description="The page's site key")
]
OriginHeader = Annotated[str | None, Header(alias="Origin", max_length=300)]
AuthorizationHeader = Annotated[
    str | None,
    Header(alias="Authorization", max_length=300, description="Bearer <conversation token>"),
]


async def _limit(state: StateDep, request: Request, kind: str, limit: int, window: float) -> None:
    """One request of ``kind`` from the client's address, within ``limit`` per ``window``."""
    address = client_address(request) or "unknown"
    wait = await state.shared.hit_async(f"assistant-public:{kind}:{address}", limit, window)
    if wait > 0:
        raise RateLimited(
            "too many requests from this address; try again later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


async def _key_budget(state: StateDep, key: sitekeys.ActiveKey) -> None:
    per_minute = key.rate_limit_per_minute or state.settings.assistant_site_key_rate_per_minute
    wait = await state.shared.take_async(f"site-key:{key.id}", per_minute / 60.0, per_minute)
    if wait > 0:
        raise RateLimited(
            "this site key's rate limit is exceeded",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


@public_router.post(
    CONVERSATIONS,
    summary="Open a widget conversation (site key)",
    response_model=PublicConversationOut,
    status_code=201,
)
async def open_conversation(
    request: Request, state: StateDep, site_key: SiteKeyHeader = None, origin: OriginHeader = None
) -> PublicConversationOut:
    """For the web chat widget: no API key, but a publishable site key (`X-Site-Key`) sent
    from one of its origins (`Origin`, compared exactly). Answers the conversation's id and
    token (keep it: it is shown once). Per address at most
    `SINCRO_ASSISTANT_PUBLIC_CONVERSATIONS_PER_HOUR` conversations an hour."""
    settings = state.settings
    await _limit(state, request, "open", settings.assistant_public_conversations_per_hour, 3600)

    def check() -> sitekeys.ActiveKey:
        with state.db.read() as session:
            return sitekeys.authorize(session, site_key, origin)

    key = await run_in_threadpool(check)
    await _key_budget(state, key)
    conversation_id, token = await run_in_threadpool(
        state.run_write, lambda session: public.open_conversation(session, key)
    )
    return PublicConversationOut(id=conversation_id, token=token)


@public_router.post(
    MESSAGES,
    summary="Send the customer's message (conversation token)",
    response_model=PublicReplyOut,
    responses=error_responses(409),
)
async def post_message(
    conversation_id: ConversationId,
    body: PublicMessageIn,
    request: Request,
    state: StateDep,
    authorization: AuthorizationHeader = None,
    origin: OriginHeader = None,
) -> PublicReplyOut:
    """The bot's reply, as `POST /v1/assistant/conversations/{id}/messages` answers it, plus
    `last_seq`. `Authorization: Bearer <token>` from the site key's origin; an unknown,
    expired or foreign conversation is a 404. Text: at most
    `SINCRO_ASSISTANT_PUBLIC_MAX_TEXT_CHARS` characters, no control characters; 409 when the
    conversation holds `SINCRO_ASSISTANT_PUBLIC_MAX_MESSAGES` messages."""
    settings = state.settings
    await _limit(state, request, "message", settings.assistant_public_messages_per_minute, 60)
    token = public.bearer(authorization)

    def check() -> sitekeys.ActiveKey:
        with state.db.read() as session:
            conversation = public.authorize(
                session, settings, conversation_id, token, origin, origin_required=True
            )
            found = public.site_key_of(session, conversation)
            assert found is not None  # authorize refused conversations without one
            return found

    await _key_budget(state, await run_in_threadpool(check))

    def write(session: Session) -> public.Turn:
        conversation = public.authorize(
            session, settings, conversation_id, token, origin, origin_required=True
        )
        return public.post(session, settings, conversation, body.text)

    turn = await run_in_threadpool(state.run_write, write)
    reply = turn.reply
    return PublicReplyOut(
        reply=reply.reply,
        intent=reply.intent,
        confidence=reply.confidence,
        state=reply.state,
        actions=[ActionOut(type=a.type, data=a.data) for a in reply.actions],
        seq=reply.seq,
        last_seq=turn.last_seq,
    )


@public_router.get(
    MESSAGES,
    summary="Messages since a sequence number (long poll; conversation token)",
    response_model=PublicMessagesOut,
)
async def messages_since(
    conversation_id: ConversationId,
    request: Request,
    state: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Last seq already seen")] = 0,
    wait: Annotated[
        int, Query(ge=0, le=60, description="Seconds to wait for a new message (long poll)")
    ] = 0,
    position: Annotated[
        int | None,
        Query(ge=0, le=MAX_ROW_ID, description="The place in the queue shown (0: none)"),
    ] = None,
    estimate: Annotated[
        int | None,
        Query(ge=0, le=MAX_ROW_ID, description="The estimated wait shown, minutes (0: none)"),
    ] = None,
    authorization: AuthorizationHeader = None,
    origin: OriginHeader = None,
) -> PublicMessagesOut:
    """The conversation's state, its messages after `after` (customer, bot, agent, system;
    never which agent) and, while it waits for a person, its `position` in the queue and
    `estimated_wait_minutes` (null out of service hours: answered by e-mail). With `wait`,
    answers as soon as there is a message or after that many seconds (at most
    `SINCRO_ASSISTANT_PUBLIC_POLL_MAX_SECONDS`): how the widget hears a person's answers; with
    `position` (and `estimate`), also as soon as the place or the estimate differs from those
    (the queue moved). Woken by the conversation's changes and the queue's moves, not by
    polling the database. A same-origin page sends no `Origin` on GET; when sent it must be
    one of the site key's."""
    settings = state.settings
    await _limit(state, request, "poll", settings.assistant_public_polls_per_minute, 60)
    token = public.bearer(authorization)

    def read() -> PublicMessagesOut:
        with state.db.read() as session:
            conversation = public.authorize(
                session, settings, conversation_id, token, origin, origin_required=False
            )
            found = public.since(session, conversation, after)
            place, minutes = public.standing(session, settings, conversation)
            return PublicMessagesOut(
                state=conversation.state,
                messages=[PublicMessageOut.model_validate(m) for m in found],
                position=place,
                estimated_wait_minutes=minutes,
            )

    def news(out: PublicMessagesOut) -> bool:
        shown = (out.position or 0, out.estimated_wait_minutes or 0)
        return bool(out.messages) or (position is not None and shown != (position, estimate or 0))

    return await live.long_poll(
        request,
        live.waker_of(state),
        (conversation_id, live.WAITING),
        settings.assistant_live_poll_seconds,
        min(wait, settings.assistant_public_poll_max_seconds),
        await run_in_threadpool(read),
        read,
        news,
    )


@public_router.options(CONVERSATIONS, include_in_schema=False)
@public_router.options(MESSAGES, include_in_schema=False)
async def preflight(request: Request) -> Response:
    """CORS preflight: allowed for the origins of active site keys only."""
    origin = request.headers.get("origin")
    if not await cors.allowed(request, origin):
        raise Forbidden("this origin may not use the assistant", field="Origin")
    response = Response(status_code=204)
    assert origin is not None
    cors.add_headers(response, origin, methods="GET, POST")
    return response


# --- admin: site keys --------------------------------------------------------------------


def _allow_http(state: StateDep) -> bool:
    setting = state.settings.assistant_site_key_allow_http
    return state.settings.mode == "embedded" if setting is None else setting


@admin_router.post("", summary="Create a site key", response_model=SiteKeyOut, status_code=201)
async def create_site_key(
    body: SiteKeyIn, request: Request, state: StateDep, principal: AdminKey
) -> SiteKeyOut:
    """A publishable key for the web chat widget, bound to `origins` (`https://host[:port]`,
    no path; http only where `SINCRO_ASSISTANT_SITE_KEY_ALLOW_HTTP`). It can open widget
    conversations from those origins and nothing else. Audited (`site_key.create`)."""

    def work(session: Session) -> SiteKeyOut:
        key = sitekeys.create(
            session,
            body.name,
            body.origins,
            allow_http=_allow_http(state),
            rate_limit_per_minute=body.rate_limit_per_minute,
            actor=principal.actor(request),
        )
        return SiteKeyOut.model_validate(key)

    return await run_in_threadpool(state.run_write, work)


@admin_router.get("", summary="List site keys", response_model=list[SiteKeyOut])
async def list_site_keys(state: StateDep, _key: AdminKey) -> list[SiteKeyOut]:
    def work() -> list[SiteKeyOut]:
        with state.db.read() as session:
            return [SiteKeyOut.model_validate(k) for k in sitekeys.list_keys(session)]

    return await run_in_threadpool(work)


@admin_router.post("/{key_id}/revoke", summary="Revoke a site key", response_model=SiteKeyOut)
async def revoke_site_key(
    key_id: Annotated[int, row_id_path("Site key id")],
    request: Request,
    state: StateDep,
    principal: AdminKey,
) -> SiteKeyOut:
    """Its pages can no longer open or continue conversations (every api process within
    30 s). Audited (`site_key.revoke`)."""

    def work(session: Session) -> SiteKeyOut:
        return SiteKeyOut.model_validate(
            sitekeys.revoke(session, key_id, actor=principal.actor(request))
        )

    return await run_in_threadpool(state.run_write, work)
