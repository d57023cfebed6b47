from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow

# The most units one bucket of one level may hold. PUT /v1/stock enforces it on counts; every
# conditional update that adds to a bucket refuses to pass it (repository.change_bucket).
MAX_LEVEL = 10_000_000


class Bucket(StrEnum):
    """Which quantity of a stock level a movement changes."""

    on_hand = "on_hand"
    reserved = "reserved"
    blocked_quality = "blocked_quality"
    blocked_stock = "blocked_stock"
    blocked_returns = "blocked_returns"


class Reason(StrEnum):
    sale = "sale"
    receipt = "receipt"
    transfer = "transfer"
    adjustment = "adjustment"
    correction = "correction"
    physical_count = "count"
    opening = "opening"
    reservation = "reservation"
    release = "release"
    expiry = "expiry"
    commit = "commit"
    block = "block"


class StockLevel(Base):
    """One SKU at one location. On PostgreSQL the table keeps 20 % free space per page so that
    stock changes are HOT updates (migration 0008)."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("product_id", "location_id"),
        Index("ix_stock_levels_location_product", "location_id", "product_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint(
            "blocked_quality >= 0 AND blocked_stock >= 0 AND blocked_returns >= 0",
            name="blocked_not_negative",
        ),
        CheckConstraint("safety_stock >= 0", name="safety_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    blocked_quality: Mapped[int] = mapped_column(Integer, default=0)
    blocked_stock: Mapped[int] = mapped_column(Integer, default=0)
    blocked_returns: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Movement(Base):
    """Append-only ledger: one row per change of one bucket of one stock level."""

    __tablename__ = "movements"
    __table_args__ = (
        Index("ix_movements_level", "product_id", "location_id"),
        # only keyed rows (ERP deliveries) have a key to look up: a reservation's has none
        Index(
            "ix_movements_idempotency",
            "source",
            "idempotency_key",
            postgresql_where=text("idempotency_key IS NOT NULL"),
            sqlite_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign keys: every insert would lock the product's and the store's rows (migrations
    # 0035, 0036); a movement is written for an existing stock level, whose own foreign keys
    # name both
    product_id: Mapped[int] = mapped_column(Integer)
    location_id: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(80))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the ERP knew of this change: its own posting time for movements it sent us, the
    # posting time of its acknowledgement for movements Sincro originated, NULL while not yet
    # acknowledged. A snapshot as of T keeps every on-hand change unknown to the ERP at T.
    erp_known_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class ReservationStatus(StrEnum):
    active = "active"
    committed = "committed"
    released = "released"
    expired = "expired"


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_status_expires", "status", "expires_at"),
        # only reservations for a named customer are looked up by customer
        Index(
            "ix_reservations_customer",
            "customer_id",
            "created_at",
            postgresql_where=text("customer_id IS NOT NULL"),
            sqlite_where=text("customer_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=ReservationStatus.active)
    channel: Mapped[str] = mapped_column(String(80))
    # The API key that made the hold: only it (or an admin key) may read, commit, release or
    # extend it. NULL for holds made outside the API (CLI, tests), which only admins see. A
    # plain integer, not a foreign key: inventory does not reach into access's tables.
    owner_key_id: Mapped[int | None] = mapped_column(Integer)
    order_reference: Mapped[str | None] = mapped_column(String(80))
    # The customer the order is for, when the channel knows (the assistant answers order status
    # to that verified customer only). A plain integer like owner_key_id: inventory does not
    # reach into customers' tables; an erased customer leaves a number that names no one.
    customer_id: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReservationLine(Base):
    """A quantity held at one location. ``expires_at`` and ``active`` mirror the reservation
    so that availability reads can discount expired holds without a join."""

    __tablename__ = "reservation_lines"
    __table_args__ = (
        Index("ix_reservation_lines_hold", "product_id", "active", "expires_at"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    # no foreign keys, as for movements: a line holds units of an existing stock level
    product_id: Mapped[int] = mapped_column(Integer)
    location_id: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesDay(Base):
    """Demand history as daily aggregates: units sold at one location on one LOCAL day of that
    location (``online_units``: the part sold online and shipped from there). ``stockout`` marks
    a day when the location had no sellable stock at some point: its demand is censored (what
    was sold is a floor, not the demand), and forecasting must not read it as zero demand."""

    __tablename__ = "sales_daily"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
    online_units: Mapped[int] = mapped_column(Integer, default=0)
    stockout: Mapped[bool] = mapped_column(Boolean, default=False)


class SalesDayUF(Base):
    """History kept per UF instead of per location: sales imported from before Sincro (the
    operator's BI keeps the long tail per UF) or a demo's past. Readers add it to the
    per-location days of the same UF (the two never overlap for one SKU and day)."""

    __tablename__ = "sales_daily_uf"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(2), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
    online_units: Mapped[int] = mapped_column(Integer, default=0)
    stockout: Mapped[bool] = mapped_column(Boolean, default=False)


class HistoryCursor(Base):
    """How far the ledger has been rolled up into :class:`SalesDay` (last movement id)."""

    __tablename__ = "sales_history_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_movement_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
