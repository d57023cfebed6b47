"""Tables of marketing automation: interests, rules and the offers they made."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class Interest(Base):
    """What a customer showed interest in, from what they asked the assistant: one row per
    (customer, kind, ref). ``strength`` is its value at ``strength_at``; it halves every
    ``SINCRO_AUTOMATION_HALF_LIFE_DAYS`` and each new interaction adds its confidence (see
    :func:`sincro.automation.interests.decayed`). ``ref`` is a SKU, a category or a plan code
    (``""`` when the customer named none). A ``back_in_stock`` interest points at the wish it
    made in the one wish list (``wish_id``)."""

    __tablename__ = "automation_interests"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "ref", name="uq_automation_interests_key"),
        Index("ix_automation_interests_kind_seen", "kind", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(60), default="")
    strength: Mapped[float] = mapped_column(Float, default=0.0)
    strength_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    wish_id: Mapped[int | None] = mapped_column(Integer)  # stock_wishes.id (not a FK: its domain)


class Rule(Base):
    """When a customer has an interest of ``kind`` at least ``min_strength`` strong, seen
    within ``within_days``, send them the marketing template ``template_id`` (an offer)."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    min_strength: Mapped[float] = mapped_column(Float, default=1.0)
    within_days: Mapped[int] = mapped_column(Integer, default=7)
    template_id: Mapped[int] = mapped_column(ForeignKey("message_templates.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Offer(Base):
    """One offer a rule made to a customer for one trigger: at most one per (rule, customer,
    trigger) ever (the unique key, taken before anything is sent). ``trigger`` is
    ``<kind>:<ref>`` (``wish:<id>`` for back-in-stock). ``code`` is the offer's attribution
    code printed in the mail; ``converted_at`` is set when a reservation or sale of ``sku``
    by the customer is found within ``SINCRO_AUTOMATION_CONVERSION_DAYS``."""

    __tablename__ = "automation_offers"
    __table_args__ = (
        UniqueConstraint("rule_id", "customer_id", "trigger", name="uq_automation_offers_trigger"),
        Index("ix_automation_offers_customer_sent", "customer_id", "sent_at"),
        Index("ix_automation_offers_sent", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(60), default="")
    sku: Mapped[str | None] = mapped_column(String(40))
    wish_id: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    converted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    conversion: Mapped[str | None] = mapped_column(String(120))  # what converted, for people
