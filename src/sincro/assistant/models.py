"""The assistant's conversations and their messages.

Stored in the operational database (PostgreSQL in production): the flow state and each
message's payload (entities, actions) are JSON documents (JSONB on PostgreSQL), which gives what
a document database would (schemaless state that changes with the dialogue) without one more
server to run, back up and secure. Every message is committed before its reply is sent, so
nothing a customer wrote is lost when an api process restarts.

States: ``bot`` (the assistant answers), ``waiting_agent`` (in the agents' queue since
``queued_at``, for ``handoff_reason``), ``agent`` (``agent_user_id`` answers), ``closed``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sincro.assistant import interactions  # noqa: F401  (registers assistant.interaction)
from sincro.db import Base, JSONDoc, UTCDateTime, utcnow

STATES = ("bot", "waiting_agent", "agent", "closed")
OWNER_KEY = "owner_key"  # in ``flow``: the API key that started the conversation, if one did
SENDERS = ("customer", "bot", "agent", "system")


class Conversation(Base):
    """One conversation with one customer on one channel."""

    __tablename__ = "assistant_conversations"
    __table_args__ = (
        Index("ix_assistant_conversations_state", "state", "queued_at"),
        Index("ix_assistant_conversations_customer", "customer_id", "created_at"),
        Index("ix_assistant_conversations_agent", "agent_user_id", "state"),
        Index("ix_assistant_conversations_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # web|api|whatsapp|... (adapter name)
    # the channel's own id of the other party (a widget session, a phone): never shown to agents
    external_ref: Mapped[str | None] = mapped_column(String(120))
    # a hash of the per-conversation token the public (widget) endpoints require
    token_hash: Mapped[str | None] = mapped_column(String(64))
    # set once the customer is identified (CPF plus a second factor): only then personal data
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="bot")
    flow: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)  # slots, context, tries
    handoff_reason: Mapped[str | None] = mapped_column(String(30))
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(30))
    csat: Mapped[int | None] = mapped_column(SmallInteger)  # 1..5 when asked and answered
    messages_count: Mapped[int] = mapped_column(Integer, default=0)
    # queued outside service hours: the agents' answers go out by e-mail (assistant.agents)
    reply_by_email: Mapped[bool] = mapped_column(Boolean, default=False)
    csat_asked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # closed, 1–5 asked

    @property
    def owner_key_id(self) -> int | None:
        """The API key that started it (``POST /v1/assistant/conversations``); None for the
        widget's and the messaging channels' conversations."""
        owner = (self.flow or {}).get(OWNER_KEY)
        return owner if isinstance(owner, int) and not isinstance(owner, bool) else None


class Message(Base):
    """One message of a conversation, numbered from 1 (``seq``) within it. ``payload`` holds
    the parse (entities) and the actions of a bot reply; ``intent``/``confidence`` a
    customer message's understanding."""

    __tablename__ = "assistant_messages"
    __table_args__ = (
        Index("ix_assistant_messages_conversation", "conversation_id", "seq", unique=True),
        Index("ix_assistant_messages_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("assistant_conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(10))  # customer|bot|agent|system
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(30))
    confidence: Mapped[float | None] = mapped_column(Float)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
