from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class Customer(Base):
    """A customer as an ERP knows it (Protheus SA1). CPF/CNPJ and e-mail are personal data:
    never logged."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("source", "external_code"),
        Index("ix_customers_document", "document"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[str | None] = mapped_column(String(14))  # digits only
    document_kind: Mapped[str | None] = mapped_column(String(4))  # cpf|cnpj
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(30))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    erp_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Receivable(Base):
    """An open or settled title (Protheus SE1): due date, amount and balance in BRL."""

    __tablename__ = "receivables"
    __table_args__ = (
        UniqueConstraint("source", "external_code"),
        Index("ix_receivables_due", "due_date", "balance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_code: Mapped[str] = mapped_column(String(60))  # prefix + number + installment
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    customer_code: Mapped[str] = mapped_column(String(40))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    erp_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
