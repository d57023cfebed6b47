"""Helpers of the people-side tests: agents, queued conversations, a known customer."""

from __future__ import annotations

import datetime as dt
import itertools

from sincro.access.service import create_user
from sincro.assistant import agents, conversations, queue
from sincro.config import Settings
from sincro.db import Database, utcnow

_seq = itertools.count(1)
ALL_DAY = {
    "assistant_service_hours_weekdays": "00:00-24:00",
    "assistant_service_hours_saturday": "00:00-24:00",
    "assistant_service_hours_sunday": "00:00-24:00",
}
CLOSED = {
    "assistant_service_hours_weekdays": "",
    "assistant_service_hours_saturday": "",
    "assistant_service_hours_sunday": "",
}


def open_hours(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={**ALL_DAY, **more})


def closed_hours(settings: Settings) -> Settings:
    return settings.model_copy(update=CLOSED)


def make_agent(
    db: Database,
    name: str,
    *,
    role: str = "agent",
    present: bool = True,
    capacity: int | None = None,
) -> agents.Agent:
    with db.write() as session:
        user = create_user(
            session, f"{name.lower()}{next(_seq)}@sincro.example", name, "senha-forte-123", role
        )
        status = agents.status_of(session, user.id)
        status.capacity = capacity
        if present:
            status.last_seen_at = utcnow()
        return agents.Agent(user.id, user.name, user.role)


def queued(
    db: Database,
    settings: Settings,
    text: str = "quero falar com uma pessoa",
    *,
    reason: str = "asked_for_person",
    at: dt.datetime | None = None,
    customer_id: int | None = None,
) -> int:
    """A conversation with one customer message, queued for ``reason`` at ``at``."""
    with db.write() as session:
        conversation, _ = conversations.start(session, channel="web", customer_id=customer_id)
        conversations.append(session, conversation, "customer", text, intent="falar_com_atendente")
        queue.enqueue(session, conversation, reason, settings, now=at)
        return conversation.id


def state_of(db: Database, conversation_id: int) -> tuple[str, int | None]:
    with db.read() as session:
        conversation = conversations.get(session, conversation_id)
        return conversation.state, conversation.agent_user_id
