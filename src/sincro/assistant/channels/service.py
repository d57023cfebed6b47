"""A channel's inbound message through the conversation seam, and its outbound replies.

``external_ref`` (the platform's id of the person, e.g. a phone) maps to the newest
conversation of that channel with that ref; a closed one is reopened by the dialogue when the
customer writes again, so one person has one thread per channel. A platform's phone number is
not an identification: ``customer_id`` stays unset until the dialogue verifies the customer.

Replies leave after the commit, one Celery task per bot message (``deliver_reply``: channel,
conversation id and seq only, so no phone or text sits in the broker or its logs). Each message
queued is marked in its payload (``channel_queued``) in the same transaction, and its outcome
is recorded (``delivered_at``, or ``delivery_failed_at`` when the platform refused it for
good): the beat's sweep (:func:`due`) queues again what is marked and has no outcome after
:data:`SWEEP_AFTER` (the broker was away at the commit, the retries ran out), up to
:data:`SWEEP_WITHIN` old. The agents'
side (:mod:`sincro.assistant.agents`) calls :func:`send_later` for every message it writes on
a channel's conversation (:func:`from_a_channel`): the person's answers and the notices (taken,
handed back, closed, the rating question). Each message is queued once, by the transaction
that wrote it; the customer's next turn queues only what follows their message."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.assistant import conversations
from sincro.assistant.channels import Inbound
from sincro.assistant.channels.config import RESERVED
from sincro.assistant.models import Conversation, Message
from sincro.config import Settings
from sincro.db import on_commit, utcnow
from sincro.errors import Conflict

log = logging.getLogger("sincro.assistant.channels")
QUEUED = "channel_queued"  # in a message's payload: queued for its platform (the sweep's list)
DELIVERED = "delivered_at"  # … once its platform accepted it
GAVE_UP = "delivery_failed_at"  # … once its platform refused it for good
SENDERS = ("bot", "agent", "system")
SWEEP_AFTER = dt.timedelta(minutes=10)  # longer than the task's own retries take
SWEEP_WITHIN = dt.timedelta(hours=6)  # older replies are not worth sending any more
SWEEP_SCAN = 5000  # messages read per sweep


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
    """Deliver message ``seq`` of a channel conversation once this transaction commits (and
    mark it, so the sweep finds it if the broker does not take it)."""
    _mark(session, conversation_id, seq, QUEUED, True)
    on_commit(session, lambda: _enqueue(conversation_id, seq))


def due(session: Session, now: dt.datetime) -> list[tuple[int, int]]:
    """``(conversation_id, seq)`` of channel messages queued between :data:`SWEEP_WITHIN` and
    :data:`SWEEP_AFTER` ago whose delivery has no outcome recorded: to queue again."""
    rows = session.execute(
        select(Message.conversation_id, Message.seq, Message.payload)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.created_at >= now - SWEEP_WITHIN,
            Message.created_at < now - SWEEP_AFTER,
            Message.sender.in_(SENDERS),
            Conversation.channel.not_in(RESERVED),
            Conversation.external_ref.is_not(None),
        )
        .order_by(Message.id)
        .limit(SWEEP_SCAN)
    )
    return [
        (int(cid), int(seq))
        for cid, seq, payload in rows
        if isinstance(payload, dict)
        and payload.get(QUEUED)
        and DELIVERED not in payload
        and GAVE_UP not in payload
    ]


def requeue(pending: list[tuple[int, int]]) -> None:
    for conversation_id, seq in pending:
        _enqueue(conversation_id, seq)


def _enqueue(conversation_id: int, seq: int) -> None:
    from sincro.assistant.channels.tasks import deliver_reply

    try:
        cast(Any, deliver_reply).delay(conversation_id, seq)
    except Exception:  # the message is stored; the broker being away must not fail the turn
        log.exception("could not queue the reply %s/%s for its channel", conversation_id, seq)


def _message(session: Session, conversation_id: int, seq: int) -> Message | None:
    return session.scalar(
        select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq)
    )


def outbound_message(
    session: Session, conversation_id: int, seq: int
) -> tuple[str, str, dict[str, Any]] | None:
    """``(channel, external_ref, message)`` of a bot/agent message to send, or None (nothing
    to send, or its delivery is already recorded: :func:`mark_delivered`)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not conversation.external_ref:
        return None
    message = _message(session, conversation_id, seq)
    if message is None or message.sender not in SENDERS:
        return None
    if isinstance(message.payload, dict) and DELIVERED in message.payload:
        return None
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


def mark_delivered(session: Session, conversation_id: int, seq: int, *, ok: bool = True) -> None:
    """Record that the platform accepted message ``seq`` (a redelivered task drops it), or with
    ``ok=False`` that it refused it for good (the sweep leaves it)."""
    _mark(session, conversation_id, seq, DELIVERED if ok else GAVE_UP, utcnow().isoformat())


def _mark(session: Session, conversation_id: int, seq: int, key: str, value: object) -> None:
    message = _message(session, conversation_id, seq)
    if message is not None:
        payload = message.payload if isinstance(message.payload, dict) else {}
        message.payload = {**payload, key: value}  # a new object: the JSON column is written
