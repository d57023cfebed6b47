"""What the console shows about conversations: the history with its filters and the intent
analytics (volume per intent, bot resolution and handoff rates, handoff reasons, waiting times,
ratings). Aggregates only; no message text leaves this module."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from sincro.access import service as access
from sincro.assistant.models import Conversation, Message

ANALYTICS_MAX_ROWS = 200_000  # conversations read for one analytics range


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    intent: str | None = None
    reason: str | None = None
    csat: str | None = None  # "1".."5", "any" (rated), "none" (asked, not rated)
    state: str | None = None
    since: dt.datetime | None = None  # UTC bounds of created_at
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    conversation: Conversation
    last_intent: str | None
    agent_name: str | None
    wait_seconds: float | None


def _filtered(f: HistoryFilter) -> Select[Any]:
    query = select(Conversation)
    if f.intent:
        query = query.where(
            exists().where(
                Message.conversation_id == Conversation.id,
                Message.sender == "customer",
                Message.intent == f.intent,
            )
        )
    if f.reason:
        query = query.where(Conversation.handoff_reason == f.reason)
    if f.state:
        query = query.where(Conversation.state == f.state)
    if f.csat == "any":
        query = query.where(Conversation.csat.is_not(None))
    elif f.csat == "none":
        query = query.where(Conversation.csat_asked_at.is_not(None), Conversation.csat.is_(None))
    elif f.csat and f.csat.isdigit():
        query = query.where(Conversation.csat == int(f.csat))
    if f.since is not None:
        query = query.where(Conversation.created_at >= f.since)
    if f.until is not None:
        query = query.where(Conversation.created_at < f.until)
    return query


def last_intents(session: Session, conversation_ids: Sequence[int]) -> dict[int, str]:
    """The intent of each conversation's last understood customer message."""
    if not conversation_ids:
        return {}
    latest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(
            Message.conversation_id.in_(list(conversation_ids)),
            Message.sender == "customer",
            Message.intent.is_not(None),
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(Message.conversation_id, Message.intent).join(
            latest,
            (Message.conversation_id == latest.c.conversation_id) & (Message.seq == latest.c.seq),
        )
    )
    return {int(cid): str(intent) for cid, intent in rows if intent}


def _rows(session: Session, conversations: Sequence[Conversation]) -> list[HistoryRow]:
    ids = [c.id for c in conversations]
    intents = last_intents(session, ids)
    agent_ids = {c.agent_user_id for c in conversations if c.agent_user_id is not None}
    names = {i: user.name for i, user in access.users_by_id(session, agent_ids).items()}
    return [
        HistoryRow(
            c,
            intents.get(c.id),
            names.get(c.agent_user_id) if c.agent_user_id else None,
            (c.taken_at - c.queued_at).total_seconds() if c.taken_at and c.queued_at else None,
        )
        for c in conversations
    ]


def history(
    session: Session, f: HistoryFilter, offset: int, limit: int
) -> tuple[list[HistoryRow], int]:
    """A page of conversations, newest first, and how many match."""
    query = _filtered(f)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = list(
        session.scalars(
            query.order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    return _rows(session, page), int(total)


def history_all(session: Session, f: HistoryFilter, limit: int) -> list[HistoryRow]:
    """Every matching conversation (up to ``limit``), newest first, for CSV."""
    return history(session, f, 0, limit)[0]


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Analytics:
    conversations: int = 0  # with at least one customer message
    handed_off: int = 0
    bot_resolved: int = 0
    per_intent: list[tuple[str, int]] = field(default_factory=list)  # customer messages
    reasons: list[tuple[str, int]] = field(default_factory=list)
    wait_p50: float | None = None  # seconds
    wait_p90: float | None = None
    waits_per_day: list[tuple[dt.date, float | None, float | None]] = field(default_factory=list)
    csat: dict[int, int] = field(default_factory=dict)

    @property
    def handoff_rate(self) -> float | None:
        return self.handed_off / self.conversations if self.conversations else None

    @property
    def bot_resolution_rate(self) -> float | None:
        return self.bot_resolved / self.conversations if self.conversations else None

    @property
    def csat_average(self) -> float | None:
        count = sum(self.csat.values())
        return sum(k * v for k, v in self.csat.items()) / count if count else None


def analytics(
    session: Session, since: dt.datetime, until: dt.datetime, zone: ZoneInfo
) -> Analytics:
    """Figures of the conversations started in [since, until) (UTC). A conversation is
    resolved by the bot when it never went to the queue; handed off when it did."""
    out = Analytics()
    rows = session.execute(
        select(
            Conversation.id,
            Conversation.queued_at,
            Conversation.taken_at,
            Conversation.handoff_reason,
            Conversation.csat,
        )
        .where(
            Conversation.created_at >= since,
            Conversation.created_at < until,
            exists().where(
                Message.conversation_id == Conversation.id, Message.sender == "customer"
            ),
        )
        .limit(ANALYTICS_MAX_ROWS)
    ).all()
    reasons: Counter[str] = Counter()
    waits: list[float] = []
    by_day: dict[dt.date, list[float]] = defaultdict(list)
    for _cid, queued, taken, reason, csat in rows:
        out.conversations += 1
        if queued is None:
            out.bot_resolved += 1
        else:
            out.handed_off += 1
            reasons[reason or "unknown"] += 1
        if queued is not None and taken is not None:
            wait = max(0.0, (taken - queued).total_seconds())
            waits.append(wait)
            by_day[taken.astimezone(zone).date()].append(wait)
        if csat is not None:
            out.csat[int(csat)] = out.csat.get(int(csat), 0) + 1
    out.reasons = reasons.most_common()
    out.wait_p50, out.wait_p90 = percentile(waits, 0.5), percentile(waits, 0.9)
    out.waits_per_day = [
        (day, percentile(values, 0.5), percentile(values, 0.9))
        for day, values in sorted(by_day.items())
    ]
    intents = session.execute(
        select(Message.intent, func.count())
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.sender == "customer",
            Message.intent.is_not(None),
            Conversation.created_at >= since,
            Conversation.created_at < until,
        )
        .group_by(Message.intent)
        .order_by(func.count().desc(), Message.intent)
    )
    out.per_intent = [(str(intent), int(n)) for intent, n in intents]
    return out
