"""The console's "Atendimento" (agents and admins): the inbox with the live queue, one
conversation live with the customer panel, search and suggested replies, and the agent's
actions (take, answer, hand back to the bot, close with a reason and a rating question).

Forms post and redirect back (the page works without scripts); ``assistant.js`` follows the
two Server-Sent Events streams here (the queue; one conversation's messages, resumed from
``Last-Event-ID``) and fills suggested replies into the answer box."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sincro.assistant import agents, live, suggestions
from sincro.assistant.conversations import transcript
from sincro.assistant.models import Conversation
from sincro.assistant.reporting import last_intents
from sincro.catalog import search as catalog_search
from sincro.console.assistant import views
from sincro.console.routes import (
    ConsoleUserDep,
    SessionUser,
    app_state,
    csrf_ok,
    not_found,
    render,
    session_user,
    url,
)
from sincro.db import utcnow
from sincro.errors import Conflict, InvalidInput, NotFound, SincroError
from sincro.inputs import MAX_ROW_ID

router = APIRouter(prefix="/console/atendimento", include_in_schema=False)

SECTION = "assistant"
SEARCH_RESULTS = 5
TOUCH_EVERY_SECONDS = 30.0
NOTICES = {
    "taken": "Conversa assumida.",
    "answered": "Mensagem enviada.",
    "handed_back": "Conversa devolvida ao assistente virtual.",
    "closed": "Conversa encerrada.",
    "empty": "Não há conversas na fila.",
}


def _allowed(user: SessionUser) -> bool:
    return user.role in agents.AGENT_ROLES


def _forbidden(request: Request) -> Response:
    return render(request, "error.html", {"status": 403}, status_code=403, section=SECTION)


def _agent(user: SessionUser) -> agents.Agent:
    return agents.Agent(user.id, user.name, user.role)


def _valid_id(conversation_id: int) -> bool:
    return 1 <= conversation_id <= MAX_ROW_ID


# --- inbox ---------------------------------------------------------------------------------


@router.get("", name="console_assistant_inbox")
def inbox(request: Request, user: ConsoleUserDep, aviso: str = "", erro: str = "") -> Response:
    """The queue (oldest first, live), the conversations in progress, the agent's switch."""
    if not _allowed(user):
        return _forbidden(request)
    state = app_state(request)

    def work(session: Any) -> dict[str, Any]:
        agents.touch(session, user.id)
        status = agents.status_of(session, user.id)
        snapshot = views.queue_snapshot(session, state.settings, user.id, user.role)
        return {
            "snapshot": snapshot,
            "available": status.available,
            "capacity": agents.capacity_of(status, state.settings),
        }

    context = state.run_write(work)
    now = utcnow()
    context |= {
        "notice": NOTICES.get(aviso),
        "error": ERRORS.get(erro),
        "waited": lambda iso: views.waited_label(iso, now),
    }
    return render(request, "assistant/inbox.html", context, section=SECTION)


@router.post("/disponibilidade", name="console_assistant_availability")
def availability(
    request: Request,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    available: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    if csrf_ok(request, csrf):
        app_state(request).run_write(
            lambda session: agents.set_available(session, user.id, available == "1")
        )
    return RedirectResponse(url(request, "console_assistant_inbox"), status_code=303)


@router.post("/proxima", name="console_assistant_take_next")
def take_next(
    request: Request, user: ConsoleUserDep, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Take the oldest waiting conversation nobody else is taking."""
    if not _allowed(user):
        return _forbidden(request)
    if not csrf_ok(request, csrf):
        return RedirectResponse(url(request, "console_assistant_inbox"), status_code=303)
    state = app_state(request)
    try:
        taken = state.run_write(
            lambda session: _id_of(agents.take_next(session, state.settings, _agent(user)))
        )
    except Conflict as exc:
        return _back_to_inbox(request, error=_error_code(exc))
    if taken is None:
        return _back_to_inbox(request, notice="empty")
    return _to_conversation(request, taken, "taken")


def _id_of(conversation: Conversation | None) -> int | None:
    return conversation.id if conversation is not None else None


def _back_to_inbox(request: Request, notice: str = "", error: str = "") -> Response:
    query = {"aviso": notice, "erro": error}
    return RedirectResponse(url(request, "console_assistant_inbox", query), status_code=303)


def _to_conversation(
    request: Request, conversation_id: int, notice: str = "", error: str = ""
) -> Response:
    query = {"aviso": notice, "erro": error}
    return RedirectResponse(
        url(request, "console_assistant_conversation", query, conversation_id=conversation_id),
        status_code=303,
    )


ERRORS = {  # refusals shown to the agent; the URL carries the code, never the text
    "capacity": "Você está no seu limite de conversas simultâneas: encerre ou devolva uma.",
    "taken": "Esta conversa não está mais na fila: outra pessoa assumiu ou ela foi encerrada.",
    "other_agent": "Esta conversa está com outra pessoa da equipe.",
    "not_yours": "Esta conversa não está em atendimento com você.",
    "closed": "Esta conversa já foi encerrada.",
    "empty": "Escreva a mensagem antes de enviar.",
    "text": "Mensagem longa demais ou com caracteres inválidos.",
    "reason": "Escolha um motivo de encerramento.",
    "session": "Sua sessão expirou. Tente de novo.",
    "other": "Não foi possível concluir a ação.",
}


def _error_code(exc: SincroError) -> str:
    """The code of the agent-facing pt-BR reading of a refused action."""
    message = exc.message
    for fragment, code in (
        ("capacity", "capacity"),
        ("not waiting", "taken"),
        ("another agent", "other_agent"),
        ("not with a person", "not_yours"),
        ("with the bot", "not_yours"),
        ("already closed", "closed"),
        ("write a message", "empty"),
        ("unknown reason", "reason"),
    ):
        if fragment in message:
            return code
    return "text" if exc.field == "text" else "other"


# --- one conversation ----------------------------------------------------------------------


@router.get("/conversas/{conversation_id}", name="console_assistant_conversation")
def conversation_page(
    request: Request,
    conversation_id: int,
    user: ConsoleUserDep,
    q: str = "",
    aviso: str = "",
    erro: str = "",
) -> Response:
    """The whole transcript (live), the customer panel, search, suggested replies, actions."""
    if not _allowed(user):
        return _forbidden(request)
    missing = ("Conversa não encontrada", f"Não existe a conversa nº {conversation_id}.")
    if not _valid_id(conversation_id):
        return not_found(request, *missing)
    state = app_state(request)
    with state.db.read() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return not_found(request, *missing)
        messages = transcript(session, conversation_id)
        names = views.agent_names(
            session, [conversation.agent_user_id, *(m.agent_user_id for m in messages)]
        )
        intent = last_intents(session, [conversation_id]).get(conversation_id)
        context: dict[str, Any] = {
            "c": conversation,
            "messages": [views.message_view(m, user.role, conversation, names) for m in messages],
            "last_seq": conversation.messages_count,
            "agent_name": names.get(conversation.agent_user_id or 0),
            "mine": conversation.agent_user_id == user.id,
            "can_answer": conversation.state == "agent"
            and (conversation.agent_user_id == user.id or user.role == "admin"),
            "panel": views.customer_panel(
                session, conversation, user.role, state.settings.customers_defaulter_days
            ),
            "intent": intent,
            "suggestions": suggestions.for_intent(session, intent),
            "as_written": views.sees_as_written(user.role, conversation),
        }
    context |= _search(request, q)
    context |= {
        "state_label": views.STATE_LABELS.get(conversation.state, conversation.state),
        "reason_label": views.REASON_LABELS.get(conversation.handoff_reason or ""),
        "intent_labels": views.INTENT_LABELS,
        "close_reasons": agents.CLOSE_REASONS,
        "notice": NOTICES.get(aviso),
        "error": ERRORS.get(erro),
        "role": user.role,
    }
    return render(request, "assistant/conversation.html", context, section=SECTION)


def _search(request: Request, q: str) -> dict[str, Any]:
    """Catalog search for the agent (products, datasheets, manuals) on the same page."""
    query = q.strip()[: catalog_search.MAX_QUERY_LENGTH + 1]
    out: dict[str, Any] = {"q": query, "hits": [], "search_error": None}
    if not query:
        return out
    try:
        found = catalog_search.engine_for(app_state(request).db).search(query, limit=SEARCH_RESULTS)
    except InvalidInput:
        out["search_error"] = (
            f"A busca pode ter no máximo {catalog_search.MAX_QUERY_LENGTH} caracteres."
        )
        return out
    from markupsafe import Markup

    out["hits"] = [
        {
            "type": hit.type,
            "id": hit.id,
            "sku": hit.sku,
            "title": Markup(hit.title_html),  # escaped by the search engine, <mark> added
            "snippet": Markup(hit.snippet_html),
        }
        for hit in found.hits
    ]
    return out


def _act(
    request: Request, user: SessionUser, conversation_id: int, csrf: str, action: Any, notice: str
) -> Response:
    if not _allowed(user):
        return _forbidden(request)
    if not _valid_id(conversation_id):
        return not_found(
            request, "Conversa não encontrada", f"Não existe a conversa nº {conversation_id}."
        )
    if not csrf_ok(request, csrf):
        return _to_conversation(request, conversation_id, error="session")
    try:
        app_state(request).run_write(action)
    except NotFound:
        return not_found(
            request, "Conversa não encontrada", f"Não existe a conversa nº {conversation_id}."
        )
    except SincroError as exc:
        return _to_conversation(request, conversation_id, error=_error_code(exc))
    return _to_conversation(request, conversation_id, notice)


@router.post("/conversas/{conversation_id}/assumir", name="console_assistant_take")
def take(
    request: Request,
    conversation_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    settings = app_state(request).settings
    return _act(
        request,
        user,
        conversation_id,
        csrf,
        lambda session: agents.take(session, settings, conversation_id, _agent(user)),
        "taken",
    )


@router.post("/conversas/{conversation_id}/responder", name="console_assistant_answer")
def answer(
    request: Request,
    conversation_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    settings = app_state(request).settings
    return _act(
        request,
        user,
        conversation_id,
        csrf,
        lambda session: agents.answer(session, settings, conversation_id, _agent(user), text),
        "answered",
    )


@router.post("/conversas/{conversation_id}/devolver", name="console_assistant_hand_back")
def hand_back(
    request: Request,
    conversation_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _act(
        request,
        user,
        conversation_id,
        csrf,
        lambda session: agents.hand_back(session, conversation_id, _agent(user)),
        "handed_back",
    )


@router.post("/conversas/{conversation_id}/encerrar", name="console_assistant_close")
def close(
    request: Request,
    conversation_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=40)] = "",
    csat: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    return _act(
        request,
        user,
        conversation_id,
        csrf,
        lambda session: agents.close(
            session, conversation_id, _agent(user), reason, ask_csat=csat == "1"
        ),
        "closed",
    )


# --- live streams --------------------------------------------------------------------------


def _sse_response(stream: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/stream", name="console_assistant_queue_stream")
async def queue_stream(request: Request) -> Response:
    """The inbox's queue as Server-Sent Events (``queue`` events with the whole snapshot,
    sent when it changes); keeps the agent present while open."""
    user = await run_in_threadpool(session_user, request)
    if user is None or not _allowed(user):
        return PlainTextResponse("Entre no console como atendente.", status_code=401)
    state = app_state(request)
    sent: dict[str, Any] | None = None
    touched = 0.0

    def snapshot_of(session: Any, touch: bool) -> dict[str, Any]:
        if touch:
            agents.touch(session, user.id)
        return views.queue_snapshot(session, state.settings, user.id, user.role)

    def step() -> list[bytes]:
        nonlocal sent, touched
        if time.monotonic() - touched >= TOUCH_EVERY_SECONDS:
            snapshot = state.run_write(lambda session: snapshot_of(session, True))
            touched = time.monotonic()
        else:
            with state.db.read() as session:
                snapshot = snapshot_of(session, False)
        if snapshot == sent:
            return []
        sent = snapshot
        return [live.sse("queue", snapshot)]

    poll = state.settings.assistant_live_poll_seconds
    return _sse_response(live.stream(request, live.waker_of(state), (live.QUEUE,), poll, step))


@router.get("/conversas/{conversation_id}/stream", name="console_assistant_conversation_stream")
async def conversation_stream(
    request: Request,
    conversation_id: int,
    after: int = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    """One conversation's messages after ``after`` (or ``Last-Event-ID``) as ``message``
    events (id = seq, text masked as the role sees it) and ``state`` events."""
    user = await run_in_threadpool(session_user, request)
    if user is None or not _allowed(user):
        return PlainTextResponse("Entre no console como atendente.", status_code=401)
    if not _valid_id(conversation_id) or not 0 <= after <= MAX_ROW_ID:
        return PlainTextResponse("Conversa inválida.", status_code=400)
    if last_event_id and last_event_id.strip().isdigit():
        after = max(after, min(int(last_event_id.strip()), MAX_ROW_ID))
    state = app_state(request)
    cursor = live.Cursor(after)

    def step() -> list[bytes] | None:
        with state.db.read() as session:
            conversation, messages = live.read_after(session, conversation_id, cursor.after)
            if conversation is None:
                return None
            names = views.agent_names(
                session, [conversation.agent_user_id, *(m.agent_user_id for m in messages)]
            )
            status: dict[str, Any] = {
                "state": conversation.state,
                "state_label": views.STATE_LABELS.get(conversation.state, conversation.state),
                "agent": names.get(conversation.agent_user_id or 0, ""),
                "seq": conversation.messages_count,
            }
            shown = [views.message_view(m, user.role, conversation, names) for m in messages]
        return cursor.events(status, shown)

    poll = state.settings.assistant_live_poll_seconds
    keys = (conversation_id,)
    return _sse_response(live.stream(request, live.waker_of(state), keys, poll, step))
