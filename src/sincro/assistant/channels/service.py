"""A channel's inbound message through the conversation seam, and its outbound replies.

``external_ref`` (the platform's id of the person, e.g. a phone) maps to the newest
conversation of that channel with that ref; a closed one is reopened by the dialogue when the
customer writes again, so one person has one thread per channel. A platform's phone number is
not an identification: ``customer_id`` stays unset until the dialogue verifies the customer.

Replies leave after the commit, one Celery task per bot message (``deliver_reply``: channel,
conversation id and seq only, so no phone or text sits in the broker or its logs). The agents'
side (:mod:`sincro.assistant.agents`) calls :func:`send_later` for every message it writes on
a channel's conversation (:func:`from_a_channel`): the person's answers and the notices (taken,
handed back, closed, the rating question). Each message is queued once, by the transaction
that wrote it; the customer's next turn queues only what follows their message."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.assistant import conversations
from sincro.assistant.channels import Inbound
from sincro.assistant.channels.config import RESERVED
from sincro.assistant.models import Conversation
from sincro.config import Settings
from sincro.db import on_commit
from sincro.errors import Conflict

log = logging.getLogger("sincro.assistant.channels")


def conversation_for(session: Session, channel: str, external_ref: str) -> Conversation:
    """The newest conversation of ``external_ref`` on ``channel``, else a new one. One an API
    key started is never taken for it (the key would read the person's thread)."""
    found = session.scalar(
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.external_ref == external_ref)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if found is not None and found.owner_key_id is None:
        return found
    conversation, _token = conversations.start(session, channel=channel, external_ref=external_ref)
    return conversation


def from_a_channel(conversation: Conversation) -> bool:
    """Whether ``conversation`` is a messaging channel's thread (its messages go out through
    the channel's adapter), not the widget's nor one an API key started."""
    return (
        conversation.channel not in RESERVED
        and conversation.owner_key_id is None
        and bool(conversation.external_ref)
    )


def receive(
    session: Session, settings: Settings, channel: str, inbound: Inbound
) -> tuple[int, conversations.Reply]:
    """Answer one inbound message; the bot's messages are sent after the commit. A closed
    thread takes only the answer to its rating question; anything else starts a new one."""
    conversation = conversation_for(session, channel, inbound.external_ref)
    try:
        reply = conversations.post_customer(session, settings, conversation.id, inbound.text)
    except Conflict:
        if conversation.state != "closed":
            raise
        conversation, _token = conversations.start(
            session, channel=channel, external_ref=inbound.external_ref
        )
        reply = conversations.post_customer(session, settings, conversation.id, inbound.text)
    session.refresh(conversation)
    for seq in range(reply.seq + 1, conversation.messages_count + 1):
        send_later(session, conversation.id, seq)
    return conversation.id, reply


def send_later(session: Session, conversation_id: int, seq: int) -> None:
    """Deliver message ``seq`` of a channel conversation once this transaction commits."""
    on_commit(session, lambda: _enqueue(conversation_id, seq))


def _enqueue(conversation_id: int, seq: int) -> None:
    from sincro.assistant.channels.tasks import deliver_reply

    try:
        cast(Any, deliver_reply).delay(conversation_id, seq)
    except Exception:  # the message is stored; the broker being away must not fail the turn
        log.exception("could not queue the reply %s/%s for its channel", conversation_id, seq)


def outbound_message(
    session: Session, conversation_id: int, seq: int
) -> tuple[str, str, dict[str, Any]] | None:
    """``(channel, external_ref, message)`` of a bot/agent message to send, or None."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not conversation.external_ref:
        return None
    found = [m for m in conversations.transcript(session, conversation_id, seq - 1) if m.seq == seq]
    if not found or found[0].sender not in ("bot", "agent", "system"):
        return None
    message = found[0]
    payload = message.payload if isinstance(message.payload, dict) else {}
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    return (
        conversation.channel,
        conversation.external_ref,
        {
            "text": message.text,
            "actions": actions,
            "sender": message.sender,
            "conversation_id": conversation_id,
            "seq": seq,
            "state": conversation.state,
        },
    )
