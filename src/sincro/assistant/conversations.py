"""The conversation seam every channel goes through: :func:`start` and :func:`post_customer`.

The API (``/v1/assistant/conversations``), the public widget endpoints and channel adapters
call these two functions and nothing deeper; the dialogue behind :func:`post_customer` (slots,
context, identity, answers from Sincro's data, handoff) is the dialogue module's business, and
the agents' side reads and writes the same rows (:mod:`sincro.assistant.queue`).

Every customer message is committed with its reply in the caller's transaction (``db.write()``)
before the reply leaves: nothing a customer wrote is lost when a process restarts."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from sincro.assistant.models import Conversation, Message
from sincro.db import utcnow
from sincro.errors import NotFound


@dataclass(frozen=True)
class Action:
    """Something the bot did or offers: ``handoff``, ``show_stores``, ``send_invoice``,
    ``ask_identity``…, with its data."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


@dataclass(frozen=True)
class Reply:
    """What a customer's message produced: the bot's reply text (empty while a person answers),
    the understood intent and confidence, the conversation's state after it, the actions."""

    reply: str
    intent: str | None
    confidence: float | None
    state: str
    actions: tuple[Action, ...] = ()
    seq: int = 0  # the sequence number of the customer's message


_LOCKED = "assistant.locked_conversations"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    *,
    channel: str,
    external_ref: str | None = None,
    customer_id: int | None = None,
) -> tuple[Conversation, str]:
    """A new conversation in state ``bot`` and its token (shown once; only its hash is kept).
    ``customer_id`` only when the channel itself has verified who the customer is."""
    token = secrets.token_urlsafe(24)
    conversation = Conversation(
        channel=channel,
        external_ref=external_ref,
        customer_id=customer_id,
        token_hash=token_hash(token),
        state="bot",
        flow={},
        messages_count=0,
    )
    session.add(conversation)
    session.flush()
    return conversation, token


# Every turn reads its conversation: the statements are built once (building one per call,
# with its cache key and ORM compile state, cost ~0.15 ms of CPU a turn).
_GET = select(Conversation).where(Conversation.id == bindparam("conversation_id"))
_GET_FOR_UPDATE = _GET.with_for_update()


def get(session: Session, conversation_id: int, *, for_update: bool = False) -> Conversation:
    """The conversation; ``for_update`` locks its row for the rest of the transaction, and a
    second locking read in the same transaction (the API's visibility check, then the turn)
    returns the row already held without asking the database again."""
    if for_update:
        held = _locked(session).get(conversation_id)
        if held is not None:
            return held
    query = _GET_FOR_UPDATE if for_update else _GET
    conversation = session.scalar(query, {"conversation_id": conversation_id})
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    if for_update and not session.in_nested_transaction():  # a savepoint's rollback unlocks
        _locked(session)[conversation_id] = conversation
    return conversation


def _locked(session: Session) -> dict[int, Conversation]:
    """The conversations the session's current transaction has locked."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, {})
    return held[1]


def draft(
    conversation: Conversation,
    sender: str,
    text: str,
    *,
    intent: str | None = None,
    confidence: float | None = None,
    payload: dict[str, Any] | None = None,
    agent_user_id: int | None = None,
    at: dt.datetime | None = None,
) -> Message:
    """The next message of ``conversation`` (locked by the caller): numbered with the next
    ``seq`` and counted, not yet stored (:func:`store` writes drafts, :func:`append` one)."""
    now = at or utcnow()
    conversation.messages_count += 1
    conversation.last_message_at = now
    return Message(
        conversation_id=conversation.id,
        seq=conversation.messages_count,
        sender=sender,
        text=text,
        intent=intent,
        confidence=confidence,
        payload=payload or {},
        agent_user_id=agent_user_id,
        created_at=now,
    )


def append(
    session: Session,
    conversation: Conversation,
    sender: str,
    text: str,
    *,
    intent: str | None = None,
    confidence: float | None = None,
    payload: dict[str, Any] | None = None,
    agent_user_id: int | None = None,
    at: dt.datetime | None = None,
) -> Message:
    """Add one message to ``conversation`` (locked by the caller) with the next ``seq``."""
    message = draft(
        conversation,
        sender,
        text,
        intent=intent,
        confidence=confidence,
        payload=payload,
        agent_user_id=agent_user_id,
        at=at,
    )
    session.add(message)
    session.flush()
    return message


_MESSAGES = cast(Table, Message.__table__)
_MESSAGE_COLUMNS = tuple(c.key for c in _MESSAGES.columns if c.key != "id")
_INSERT_MESSAGES = _MESSAGES.insert()


def store(session: Session, messages: list[Message]) -> None:
    """Write drafted messages with one INSERT, after the conversation's changes (the drafts
    stay outside the session: a turn needs their ``seq``, never their id)."""
    session.flush()
    rows = [{key: getattr(m, key) for key in _MESSAGE_COLUMNS} for m in messages]
    session.execute(_INSERT_MESSAGES, rows)  # executemany: one round trip


def transcript(session: Session, conversation_id: int, after_seq: int = 0) -> list[Message]:
    """The messages of a conversation after ``after_seq``, in order."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
            .order_by(Message.seq)
        )
    )


def post_customer(session: Session, settings: Any, conversation_id: int, text: str) -> Reply:
    """Store the customer's ``text`` and answer it (the dialogue decides how)."""
    from sincro.assistant import agents, dialogue, live

    conversation = get(session, conversation_id, for_update=True)
    rating = agents.csat_reply(session, conversation, text)  # "5" after "how did we do?"
    if rating is not None:
        return rating
    reply = dialogue.respond(session, settings, conversation, text)
    if reply.state in ("waiting_agent", "agent"):  # a person is (or will be) reading
        live.announce(session, conversation)
    return reply
