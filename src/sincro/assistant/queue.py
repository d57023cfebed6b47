"""The agents' queue: conversations waiting for a person, oldest first.

:func:`enqueue` is how the dialogue hands a conversation to people (state ``waiting_agent``
with a reason); the agents' side takes them from here."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.assistant.models import Conversation
from sincro.db import utcnow

HANDOFF_REASONS = (
    "asked_for_person",
    "low_confidence",
    "complaint",
    "cancellation",
    "negative_sentiment",
    "cannot_do",
)


def enqueue(session: Session, conversation: Conversation, reason: str) -> None:
    """Put ``conversation`` (locked by the caller) in the queue for ``reason``; a conversation
    already waiting or with an agent keeps its place and first reason."""
    if reason not in HANDOFF_REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    if conversation.state in ("waiting_agent", "agent"):
        return
    conversation.state = "waiting_agent"
    conversation.queued_at = utcnow()
    conversation.handoff_reason = reason


def position(session: Session, conversation: Conversation) -> int | None:
    """1 for the next conversation an agent will take; None when not waiting."""
    if conversation.state != "waiting_agent" or conversation.queued_at is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.state == "waiting_agent",
            Conversation.queued_at < conversation.queued_at,
        )
    )
    return int(ahead or 0) + 1


def handoff_notice(session: Session, conversation: Conversation) -> str:
    """What the customer is told when handed to a person (pt-BR): their place in the queue."""
    place = position(session, conversation)
    if place is None:
        return "Uma pessoa da nossa equipe já está com você."
    if place == 1:
        return "Vou te passar para uma pessoa da nossa equipe. Você é o próximo da fila."
    return f"Vou te passar para uma pessoa da nossa equipe. Há {place - 1} pessoas na sua frente."
