"""The agents' queue: conversations waiting for a person, oldest first.

:func:`enqueue` is how the dialogue hands a conversation to people (state ``waiting_agent``
with a reason; out of service hours it is marked to be answered by e-mail);
:func:`handoff_notice` is what the customer is told: their place in the queue and an estimated
wait, or, out of hours, to leave a message answered by e-mail; :func:`standing` is that place
and wait again, sent live to the waiting customer each time the queue moves. The agents'
side takes conversations from here (:mod:`sincro.assistant.agents`)."""

from __future__ import annotations

import datetime as dt
import math
import statistics

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import Session

from sincro.assistant import hours
from sincro.assistant.models import Conversation
from sincro.config import Settings, get_settings
from sincro.db import utcnow

HANDOFF_REASONS = (
    "asked_for_person",
    "low_confidence",
    "complaint",
    "cancellation",
    "negative_sentiment",
    "cannot_do",
)
RECENT_WAITS_HOURS = 24  # waits older than this say nothing about today's queue


def enqueue(
    session: Session,
    conversation: Conversation,
    reason: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Put ``conversation`` (locked by the caller) in the queue for ``reason``; a conversation
    already waiting or with an agent keeps its place and first reason. Outside service hours
    it is marked ``reply_by_email``."""
    if reason not in HANDOFF_REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    if conversation.state in ("waiting_agent", "agent"):
        return
    from sincro.assistant import live

    now = now or utcnow()
    conversation.state = "waiting_agent"
    conversation.queued_at = now
    conversation.taken_at = None
    conversation.handoff_reason = reason
    conversation.reply_by_email = not hours.is_open(settings or get_settings(), now)
    session.flush()
    live.announce(session, conversation)


# Asked at every handoff and each time the queue moves for a waiting customer: built once.
_AHEAD = (
    select(func.count())
    .select_from(Conversation)
    .where(
        Conversation.state == "waiting_agent",
        (Conversation.queued_at < bindparam("queued_at"))
        | (
            (Conversation.queued_at == bindparam("queued_at"))
            & (Conversation.id < bindparam("conversation_id"))
        ),
    )
)
_RECENT_WAITS = (
    select(Conversation.queued_at, Conversation.taken_at)
    .where(Conversation.taken_at.is_not(None), Conversation.taken_at >= bindparam("since"))
    .order_by(Conversation.taken_at.desc())
    .limit(bindparam("sample", type_=Integer))
)


def position(session: Session, conversation: Conversation) -> int | None:
    """1 for the next conversation an agent will take; None when not waiting."""
    if conversation.state != "waiting_agent" or conversation.queued_at is None:
        return None
    ahead = session.scalar(
        _AHEAD, {"queued_at": conversation.queued_at, "conversation_id": conversation.id}
    )
    return int(ahead or 0) + 1


def recent_waits(session: Session, sample: int, now: dt.datetime | None = None) -> list[float]:
    """Seconds waited by the last ``sample`` conversations people took in the last day."""
    since = (now or utcnow()) - dt.timedelta(hours=RECENT_WAITS_HOURS)
    rows = session.execute(_RECENT_WAITS, {"since": since, "sample": sample})
    return [
        max(0.0, (taken - queued).total_seconds()) for queued, taken in rows if queued and taken
    ]


def estimated_wait_minutes(
    session: Session, place: int, settings: Settings, now: dt.datetime | None = None
) -> int | None:
    """Minutes the customer at ``place`` should expect: the median of recent waits (people
    mostly waited near the head of the queue) times their place, shared among the agents
    present; None with no recent waits to go by."""
    waits = recent_waits(session, settings.assistant_wait_sample, now)
    if not waits:
        return None
    from sincro.assistant.agents import present_agents

    agents = max(1, len(present_agents(session, settings, now)))
    return max(1, math.ceil(statistics.median(waits) * math.ceil(place / agents) / 60))


def standing(
    session: Session, conversation: Conversation, settings: Settings, now: dt.datetime | None = None
) -> tuple[int | None, int | None]:
    """The conversation's place in the queue and estimated wait in minutes (None when not
    waiting; the wait None without recent waits). The customer's streams send it again
    whenever the queue moves (:mod:`sincro.assistant.live`)."""
    place = position(session, conversation)
    if place is None:
        return None, None
    return place, estimated_wait_minutes(session, place, settings, now)


def _minutes(value: int) -> str:
    return "1 minuto" if value == 1 else f"{value} minutos"


def handoff_notice(
    session: Session,
    conversation: Conversation,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> str:
    """What the customer is told when handed to a person (pt-BR): their place in the queue
    and the estimated wait, or, outside service hours, to leave a message for e-mail."""
    settings = settings or get_settings()
    if conversation.state == "waiting_agent" and conversation.reply_by_email:
        return (
            "Nosso atendimento com pessoas está fechado agora e volta "
            f"{hours.opening_phrase(settings, now)}. Deixe sua mensagem e seu e-mail aqui: "
            "vamos responder por e-mail assim que possível."
        )
    place = position(session, conversation)
    if place is None:
        return "Uma pessoa da nossa equipe já está com você."
    if place == 1:
        text = "Vou te passar para uma pessoa da nossa equipe. Você é o próximo da fila."
    else:
        text = (
            f"Vou te passar para uma pessoa da nossa equipe. Há {place - 1} "
            f"{'pessoa' if place == 2 else 'pessoas'} na sua frente."
        )
    wait = estimated_wait_minutes(session, place, settings, now)
    if wait is not None:
        text += f" Tempo estimado de espera: cerca de {_minutes(wait)}."
    return text
