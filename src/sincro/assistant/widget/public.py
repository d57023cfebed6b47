"""What the public (widget) endpoints do, over the conversation seam (and the queue's
:func:`sincro.assistant.queue.standing`, the place shown while waiting).

A widget conversation is opened with a site key (channel ``web``, ``external_ref``
``site-key:<id>``) and from then on answered only to its token: ``Authorization: Bearer
<token>``, compared in constant time with the stored hash. An unknown id, a wrong token, a
conversation of another channel, an idle one past ``SINCRO_ASSISTANT_PUBLIC_IDLE_SECONDS`` or
one whose site key was revoked are all the same 404, so nobody learns which ids exist."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sincro.assistant import conversations, queue
from sincro.assistant.models import Conversation, Message
from sincro.assistant.widget import sitekeys
from sincro.config import Settings
from sincro.db import utcnow
from sincro.errors import Conflict, InvalidInput, NotFound, Unauthorized

CHANNEL = "web"
REF_PREFIX = "site-key:"
SENDERS = ("customer", "bot", "agent", "system")  # what the public transcript shows
NOT_FOUND = "conversation not found"


@dataclass(frozen=True, slots=True)
class Turn:
    reply: conversations.Reply
    last_seq: int


def open_conversation(session: Session, key: sitekeys.ActiveKey) -> tuple[int, str]:
    conversation, token = conversations.start(
        session, channel=CHANNEL, external_ref=f"{REF_PREFIX}{key.id}"
    )
    return conversation.id, token


def bearer(authorization: str | None) -> str:
    """The conversation token of an ``Authorization: Bearer`` header, else 401."""
    value = (authorization or "").strip()
    if not value.lower().startswith("bearer ") or not value[7:].strip():
        raise Unauthorized(
            "missing conversation token: send Authorization: Bearer <token>",
            field="Authorization",
        )
    return value[7:].strip()


def authorize(
    session: Session,
    settings: Settings,
    conversation_id: int,
    token: str,
    origin: str | None,
    *,
    origin_required: bool,
) -> Conversation:
    """The conversation ``token`` opens, from an origin its site key allows (``origin`` may
    be absent only when not ``origin_required``: a same-origin GET carries none)."""
    presented = conversations.token_hash(token[:200])
    try:
        conversation = conversations.get(session, conversation_id)
    except NotFound:
        conversation = None
    stored = conversation.token_hash if conversation is not None else None
    # compare against something even when there is nothing, so timing tells nothing either
    matches = hmac.compare_digest(stored or "0" * 64, presented) and stored is not None
    if conversation is None or not matches or conversation.channel != CHANNEL:
        raise NotFound(NOT_FOUND)
    key = site_key_of(session, conversation)
    if key is None or _idle(conversation, settings):
        raise NotFound(NOT_FOUND)
    if origin is not None or origin_required:
        sitekeys.require_origin(key, origin)
    return conversation


def site_key_of(session: Session, conversation: Conversation) -> sitekeys.ActiveKey | None:
    ref = conversation.external_ref or ""
    if not ref.startswith(REF_PREFIX) or not ref[len(REF_PREFIX) :].isdigit():
        return None
    return sitekeys.active_by_id(session, int(ref[len(REF_PREFIX) :]))


def _idle(conversation: Conversation, settings: Settings) -> bool:
    idle = dt.timedelta(seconds=settings.assistant_public_idle_seconds)
    return utcnow() - conversation.last_message_at > idle


def post(session: Session, settings: Settings, conversation: Conversation, text: str) -> Turn:
    """The customer's message through the seam; ``last_seq`` is the conversation's last
    message after the turn (the widget has shown everything up to it)."""
    if len(text) > settings.assistant_public_max_text_chars:
        raise InvalidInput(
            f"text is longer than {settings.assistant_public_max_text_chars} characters",
            field="text",
        )
    if not text.strip():
        raise InvalidInput("text is empty", field="text")
    if conversation.messages_count >= settings.assistant_public_max_messages:
        raise Conflict("this conversation is full; start a new one")
    reply = conversations.post_customer(session, settings, conversation.id, text)
    session.refresh(conversation)
    return Turn(reply, conversation.messages_count)


def message_view(message: Message) -> dict[str, Any]:
    """One message as the customer may see it: who (never which agent), text, actions."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    actions = payload.get("actions") if message.sender == "bot" else None
    return {
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "actions": [a for a in actions if _action_like(a)] if isinstance(actions, list) else [],
        "at": message.created_at,
    }


def _action_like(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def standing(
    session: Session, settings: Settings, conversation: Conversation
) -> tuple[int | None, int | None]:
    """The customer's place in the queue and estimated wait (minutes) while waiting for a
    person; none out of service hours (the answer comes by e-mail)."""
    if conversation.reply_by_email:
        return None, None
    return queue.standing(session, conversation, settings)


def since(session: Session, conversation: Conversation, after: int) -> list[dict[str, Any]]:
    return [
        message_view(m)
        for m in conversations.transcript(session, conversation.id, after)
        if m.sender in SENDERS
    ]
