"""The agents' side of the assistant: who is present to take conversations, and the suggested
replies per intent that the inbox offers.

``assistant_agents`` has one row per console user who ever opened the inbox: ``available``
(the agent's own switch) and ``last_seen_at`` (renewed while their inbox is open) decide who
is *present* for assignment; ``capacity`` overrides ``SINCRO_ASSISTANT_AGENT_CAPACITY``. The
row is also what concurrent assigners lock, so two of them never overfill one agent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class AgentStatus(Base):
    __tablename__ = "assistant_agents"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), primary_key=True
    )
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReplyTemplate(Base):
    """A suggested reply the inbox offers when the conversation's last intent is ``intent``
    (None: offered for every intent). Admins edit them in the console."""

    __tablename__ = "assistant_reply_templates"
    __table_args__ = (Index("ix_assistant_reply_templates_intent", "intent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    intent: Mapped[str | None] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
