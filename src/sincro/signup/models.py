from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class SignupMessage(Base):
    """One sign-up message handled, keyed by its Message-ID (a hash of it: ids may be long),
    with what became of it. The row is written in the transaction that registers the
    customer, so a message is registered at most once; ``replied_at`` records that the answer
    went out (a restart sends it only when it did not). The sender's address is personal data:
    stored, never logged."""

    __tablename__ = "signup_messages"
    __table_args__ = (Index("ix_signup_messages_sender_replied", "sender", "replied_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of Message-ID
    message_id: Mapped[str] = mapped_column(String(255))  # as received, cut to 255
    sender: Mapped[str] = mapped_column(String(200))  # the address replies go to ("" none)
    subject: Mapped[str] = mapped_column(String(200))
    # registered | incomplete | invalid | ignored (auto-reply, bounce) | refused (too big)
    outcome: Mapped[str] = mapped_column(String(16))
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)  # field names, pt-BR
    customer_id: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[bool | None] = mapped_column()  # a new customer (False: merged)
    reply_message_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
