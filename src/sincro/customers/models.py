from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class Customer(Base):
    """A customer as an ERP (Protheus SA1), the API, a CSV import or the sign-up inbox knows
    them. CPF/CNPJ and e-mail are personal data: never logged.

    Records of one person from several sources are merged by document: the oldest record is
    the primary and the others point at it with ``merged_into_id`` (audiences and reports read
    primaries only). An erased customer keeps its row (receivables still reference it) with
    personal fields blanked and ``erased_at`` set."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("source", "external_code"),
        Index("ix_customers_document", "document"),
        Index("ix_customers_email", "email"),
        Index("ix_customers_state_city", "state", "city"),
        Index("ix_customers_since", "customer_since"),  # reports: new customers per period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[str | None] = mapped_column(String(14))  # digits only
    document_kind: Mapped[str | None] = mapped_column(String(4))  # cpf|cnpj
    email: Mapped[str | None] = mapped_column(String(200))  # normalized (lower case)
    phone: Mapped[str | None] = mapped_column(String(30))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    plan: Mapped[str | None] = mapped_column(String(60))
    customer_since: Mapped[dt.date | None] = mapped_column(Date)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erp_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Receivable(Base):
    """A title (Protheus SE1): number, amount, balance, issue/due/paid dates, status."""

    __tablename__ = "receivables"
    __table_args__ = (
        UniqueConstraint("source", "external_code"),
        Index("ix_receivables_due", "due_date", "balance"),
        # reports: covering indexes, so invoiced / received per month and the open titles at a
        # date are read from the index alone; billing's dunning reads by issue date through it
        Index("ix_receivables_issued", "issued_on", "status", "amount"),
        Index("ix_receivables_paid", "paid_on", "status", "amount", "balance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_code: Mapped[str] = mapped_column(String(60))  # prefix + number + installment
    number: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    customer_code: Mapped[str] = mapped_column(String(40))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open|paid|cancelled
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    erp_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Consent(Base):
    """The current consent of a customer for one channel and purpose (the latest evidence
    wins). Purposes are separate: refusing offers never stops billing notices."""

    __tablename__ = "customer_consents"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(12), primary_key=True)  # email|sms|whatsapp|chat
    purpose: Mapped[str] = mapped_column(String(12), primary_key=True)  # billing|service|marketing
    granted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    """Append-only history of consent with its evidence: where it came from (``source``:
    erp, api, csv, signup-mail, unsubscribe, console…) and what proves it (a message id, an
    address, a request id)."""

    __tablename__ = "customer_consent_events"
    __table_args__ = (Index("ix_consent_events_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(12))
    purpose: Mapped[str] = mapped_column(String(12))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    evidence: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """An address that must not receive mail: for one purpose (``unsubscribed``) or for any
    (``purpose='*'``: hard bounce, complaint, manual)."""

    __tablename__ = "email_suppressions"
    __table_args__ = (UniqueConstraint("email", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))  # normalized
    purpose: Mapped[str] = mapped_column(String(12), default="*")
    reason: Mapped[str] = mapped_column(String(20))  # unsubscribed|hard_bounce|complaint|manual
    detail: Mapped[str] = mapped_column(String(300), default="")
    hits: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerImport(Base):
    """One CSV import (CLI, API or console): its file, how it was read, and its progress.

    ``queued`` (the upload stored in :class:`CustomerImportUpload`, a task on the ``imports``
    queue) → ``running`` → ``done`` | ``failed``. A run holds a lease (``worker``,
    ``lease_until``) renewed with every batch; ``processed_lines`` is the resume cursor,
    committed in each batch's transaction, so a run taken over after a crash starts after the
    last committed batch. Progress is in the database, so any api replica can show it."""

    __tablename__ = "customer_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    encoding: Mapped[str] = mapped_column(String(20), default="")  # utf-8|cp1252
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="running")  # see above
    total_lines: Mapped[int] = mapped_column(Integer, default=0)
    processed_lines: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str] = mapped_column(String(120), default="")  # host:pid of the lease holder
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started (claims)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # last task sent

    def interrupted(self, now: dt.datetime) -> bool:
        """Running but its lease ran out: the process that ran it stopped."""
        return self.status == "running" and self.lease_until is not None and self.lease_until < now


class CustomerImportUpload(Base):
    """The uploaded file of a queued or running import, where every worker can read it.
    Deleted in the transaction that finishes the import, or by the sweep when abandoned."""

    __tablename__ = "customer_import_uploads"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerImportReject(Base):
    """One refused line of an import: line number, column, reason, and the value (personal
    values masked, so the report holds no CPF or address in clear)."""

    __tablename__ = "customer_import_rejects"
    __table_args__ = (Index("ix_customer_import_rejects_import", "import_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("customer_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(300))
    value: Mapped[str] = mapped_column(String(200), default="")
