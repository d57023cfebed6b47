"""Messaging tables: templates and their immutable versions, campaigns, and the send ledger.

The ledger has one row per (campaign, recipient): ``dedupe_key`` is ``c<customer id>`` for a
campaign and the caller's key for a transactional message (the transactional pseudo-campaign
holds those), unique per campaign. A row carries what its message needs (the pinned template
version, the recipient's name, address and zone, the transactional context), so a worker renders
it without reading other domains."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow

LEDGER_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: the rowid alias


class MessageTemplate(Base):
    """A template by key (``system`` ones are registered by other domains for their notices);
    its content lives in versions."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(12))  # billing|service|marketing
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)  # beyond the base set
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateVersion(Base):
    """One saved content of a template; never changed (a campaign pins the one it started
    with)."""

    __tablename__ = "message_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("message_templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    """A campaign (``kind`` campaign) or the transactional pseudo-campaign (``kind``
    transactional, always running, one per installation)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="campaign")
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_templates.id", ondelete="RESTRICT")
    )
    template_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_template_versions.id", ondelete="RESTRICT")
    )
    purpose: Mapped[str] = mapped_column(String(12), default="marketing")
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    start_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rate_per_second: Mapped[float] = mapped_column(Float)
    sender: Mapped[str] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(200))
    audience_total: Mapped[int] = mapped_column(Integer, default=0)
    materialized_after: Mapped[int] = mapped_column(Integer, default=0)  # audience cursor
    materialized: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One message: pending → sending (claimed) → sent | failed | bounced; suppressed (not
    sent: no consent, suppressed address); cancelled. See docs/architecture.md, Messaging."""

    __tablename__ = "send_ledger"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dedupe_key"),
        Index("ix_send_ledger_campaign_status", "campaign_id", "status"),
        Index("ix_send_ledger_status_due", "status", "next_attempt_at"),
        Index("ix_send_ledger_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(LEDGER_ID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(Integer)
    template_version_id: Mapped[int] = mapped_column(
        ForeignKey("message_template_versions.id", ondelete="RESTRICT")
    )
    purpose: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(40), default="campaign")
    email: Mapped[str] = mapped_column(String(200))  # normalized; blanked on erasure
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    plan: Mapped[str | None] = mapped_column(String(60))
    time_zone: Mapped[str] = mapped_column(String(64))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # transactional variables
    attachments: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # base64 bodies
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(250))
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    bounced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
