from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sincro.catalog.timezones import DEFAULT_ZONE
from sincro.db import Base, UTCDateTime, utcnow


class LocationKind(StrEnum):
    store = "store"
    dc = "dc"


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    ships_online: Mapped[bool] = mapped_column(Boolean, default=False)
    pickup_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: IANA zone of the times shown to people about this location (the API answers in UTC).
    time_zone: Mapped[str] = mapped_column(
        String(40), default=DEFAULT_ZONE, server_default=DEFAULT_ZONE
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    ean: Mapped[str | None] = mapped_column(String(14), index=True)
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(80), index=True)
    unit: Mapped[str] = mapped_column(String(8), default="UN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Replenishment attributes (Protheus SB1 B1_PE, B1_QE, B1_PROC); None when unknown.
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    pack_size: Mapped[int | None] = mapped_column(Integer)
    supplier_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProductDocument(Base):
    """A datasheet, leaflet or manual for customer service, as an ERP or PIM serves it.

    Versions are kept: the current one has ``superseded`` false; search ranks it first."""

    __tablename__ = "product_documents"
    __table_args__ = (
        UniqueConstraint("source", "external_id", "version"),
        Index("ix_product_documents_product", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer, default=1)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    sku: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20), default="datasheet")  # datasheet|leaflet|manual
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # plain text (HTML is converted on the way in)
    language: Mapped[str] = mapped_column(String(8), default="pt-BR")
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PlanKind(StrEnum):
    prepaid = "pre"
    control = "controle"
    postpaid = "pos"
    fiber = "fibra"
    combo = "combo"


class PromotionChannel(StrEnum):
    any = "todos"
    store = "loja"
    online = "online"
    app = "app"
    telesales = "televendas"


class ProductPrice(Base):
    """A product's price from a day on (``valid_to`` inclusive, open when None): the list
    price and, while on sale, the sale price. The price on a day is the row with the latest
    ``valid_from`` on or before it whose ``valid_to`` has not passed."""

    __tablename__ = "product_prices"
    __table_args__ = (UniqueConstraint("product_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    list_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    sale_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    source: Mapped[str] = mapped_column(String(40), default="api")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TelecomPlan(Base):
    """A mobile or fibre plan the operator sells: kind, monthly price, data allowance (GB;
    None for unlimited or not applicable, as fibre)."""

    __tablename__ = "telecom_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))
    monthly_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    data_gb: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(40), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Promotion(Base):
    """A discount on one product or one plan (a percentage or a promotional price) for a
    period and a sales channel."""

    __tablename__ = "promotions"
    __table_args__ = (
        Index("ix_promotions_product", "product_id"),
        Index("ix_promotions_plan", "plan_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("telecom_plans.id", ondelete="CASCADE"))
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    promo_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(12), default=PromotionChannel.any.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(40), default="api")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
