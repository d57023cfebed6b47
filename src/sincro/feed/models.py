"""Tables of the change feed: webhook subscriptions, their delivery log, and feed cursors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # the signing secret is derived from this salt (feed/secrets.py), never stored
    secret_salt: Mapped[str | None] = mapped_column(String(64))
    previous_secret_salt: Mapped[str | None] = mapped_column(String(64))
    previous_secret_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # plaintext secret of a subscription made before 0012, kept until its first rotation ends
    legacy_secret: Mapped[str | None] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(40))
    location: Mapped[str | None] = mapped_column(String(32))
    # outbox topics delivered; NULL (subscriptions made before topics existed) = stock only
    topics: Mapped[Any] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One HTTP attempt to deliver a batch of events to one subscription (the delivery log).

    ``seq`` is the first event of the batch (the one a failure holds back).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_sub_id", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedCursor(Base):
    """A durable position in the outbox for a named reader (e.g. the RabbitMQ relay)."""

    __tablename__ = "feed_cursors"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
