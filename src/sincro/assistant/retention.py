"""How long conversations are kept, and a customer's conversations for LGPD.

:func:`purge` deletes conversations closed, or silent in state ``bot``, for longer than
``SINCRO_ASSISTANT_RETENTION_DAYS`` (by their last message), with their messages, in batches;
a conversation waiting for or held by a person is never purged. The beat runs it
(``sincro.assistant.purge``). A customer's erasure deletes their conversations; one in progress
where they asked for it in the chat is unlinked and :func:`redact`-ed instead."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from sincro.assistant.models import Conversation, Message
from sincro.db import utcnow

BATCH = 500


def purge(session: Session, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete one batch of expired conversations; how many (the caller loops until < BATCH)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    ids = list(
        session.scalars(
            select(Conversation.id)
            .where(
                Conversation.state.in_(("closed", "bot")),
                Conversation.last_message_at < cutoff,
                or_(Conversation.closed_at.is_(None), Conversation.closed_at < cutoff),
            )
            .order_by(Conversation.id)
            .limit(BATCH)
        )
    )
    return _delete(session, ids)


def _delete(session: Session, ids: list[int]) -> int:
    if not ids:
        return 0
    session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return len(ids)


REDACTED = "[apagado a pedido do titular (LGPD)]"


def redact(session: Session, conversation: Conversation) -> int:
    """Blank the messages of a conversation where its customer's data was just erased (the
    conversation itself goes on to confirm it): texts replaced, entities and actions dropped.
    How many messages."""
    done = session.execute(
        update(Message)
        .where(Message.conversation_id == conversation.id)
        .values(text=REDACTED, payload={"redacted": True})
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(done, "rowcount", 0) or 0)


def _of(session: Session, customer_id: int) -> list[Conversation]:
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.id)
        )
    )


class AssistantPersonalData:
    """A customer's conversations (those where they were identified) in the LGPD export, and
    deleted with their messages on erasure. Conversations never identified hold no customer
    id and are not linked to anyone; the retention purge removes them."""

    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        out = []
        for c in _of(session, customer_id):
            messages = session.scalars(
                select(Message).where(Message.conversation_id == c.id).order_by(Message.seq)
            )
            out.append(
                {
                    "id": c.id,
                    "channel": c.channel,
                    "state": c.state,
                    "created_at": c.created_at.isoformat(),
                    "messages": [
                        {
                            "seq": m.seq,
                            "sender": m.sender,
                            "text": m.text,
                            "intent": m.intent,
                            "created_at": m.created_at.isoformat(),
                        }
                        for m in messages
                    ],
                }
            )
        return {"conversations": out}

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        return {"conversations": _delete(session, [c.id for c in _of(session, customer_id)])}


PERSONAL_DATA = AssistantPersonalData()
