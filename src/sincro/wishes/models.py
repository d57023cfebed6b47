from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class StockWish(Base):
    """A customer's wish to be told when a SKU is available at a place: one store or DC
    (``scope='location'``), online (any active location that ships online), or any store of a
    city. The one wish list of Sincro: the back-in-stock notice and the assistant's offers
    both claim a wish here (``notified_at`` set once, conditionally), so a wish is acted on
    once whoever acts.

    ``since_seq`` is the outbox position when the wish was made: only stock changes after it
    can fulfil it. ``trigger_seq`` / ``trigger_location`` are the change that did (the trigger
    id), ``notified_via`` who acted on it (``back_in_stock``; later the assistant's offers)."""

    __tablename__ = "stock_wishes"
    __table_args__ = (
        Index("ix_stock_wishes_sku_open", "sku", "notified_at"),
        Index("ix_stock_wishes_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(8))  # location|online|city
    location_code: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(8))  # web|chat|api
    since_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notified_via: Mapped[str | None] = mapped_column(String(20))
    trigger_seq: Mapped[int | None] = mapped_column(BigInteger)
    trigger_location: Mapped[str | None] = mapped_column(String(32))
