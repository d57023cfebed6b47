from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class ReceivableNotice(Base):
    """One dunning step of one receivable, recorded once: the unique (receivable, step) row is
    claimed in the transaction that hands the message to messaging, so two concurrent runs
    (or a rerun) can never send a step twice.

    ``status``: ``queued`` (handed to messaging, which sends it, or keeps it as suppressed when
    the customer has no billing consent or a suppressed address), ``duplicate`` (messaging
    already had the dedupe key), ``superseded`` (a later step was due at the same time and went
    instead), ``invalid`` (no boleto could be made: an amount past its ten digits)."""

    __tablename__ = "receivable_notices"
    __table_args__ = (
        UniqueConstraint("receivable_id", "step"),
        Index("ix_receivable_notices_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(index=True)
    step: Mapped[str] = mapped_column(String(20))  # issued|due_soon|overdue_<days>
    status: Mapped[str] = mapped_column(String(12))  # queued|duplicate|superseded|invalid
    local_date: Mapped[dt.date] = mapped_column(Date)  # the customer's date when recorded
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
