"""State of the ERP sync: sources, runs, cursors, the file ledger, rejects, aliases,
write-backs, circuit breakers and reconciliation reports."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow

# The alerts table is the kernel's (sincro.alerts). It is imported here only so that the
# models registry, which lists this module, keeps knowing it until it lists the kernel's.


class SourceKind(StrEnum):
    sap_files = "sap_files"
    protheus_rest = "protheus_rest"
    json_rest = "json_rest"


class SyncSource(Base):
    """One configured ERP source and what is known of its health and data age."""

    __tablename__ = "sync_sources"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(12), default="unknown")  # ok|degraded|down|stale
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    data_as_of: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    partial = "partial"  # applied, with rejected records
    failed = "failed"


class SyncRun(Base):
    """One sync of one entity of one source (or one file), with its counts and progress."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_source_started", "source", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sync_sources.code"))
    entity: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(12))  # schedule|event|manual|replay
    status: Mapped[str] = mapped_column(String(12), default=RunStatus.running)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    records_in: Mapped[int] = mapped_column(Integer, default=0)
    records_applied: Mapped[int] = mapped_column(Integer, default=0)
    records_rejected: Mapped[int] = mapped_column(Integer, default=0)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class SyncCursor(Base):
    """Incremental position per source x entity, saved only after the data is applied."""

    __tablename__ = "sync_cursors"

    source: Mapped[str] = mapped_column(ForeignKey("sync_sources.code"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FileState(StrEnum):
    received = "received"
    processing = "processing"
    done = "done"
    failed = "failed"  # could not be parsed: moved aside whole, with its reason
    superseded = "superseded"  # a snapshot older than one already applied
    duplicate = "duplicate"  # the same bytes again: a no-op


class ErpFile(Base):
    """The file ledger: every file dropped by or written for an ERP."""

    __tablename__ = "erp_files"
    __table_args__ = (
        Index("ix_erp_files_source_sha", "source", "direction", "sha256"),
        Index("ix_erp_files_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sync_sources.code"))
    direction: Mapped[str] = mapped_column(String(3))  # in|out
    kind: Mapped[str] = mapped_column(String(20))  # snapshot|movements|ack|writeback
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default=FileState.received)
    as_of: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    next_line: Mapped[int] = mapped_column(Integer, default=0)  # resume point after a crash
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SyncReject(Base):
    """A record or file row that was not applied: where, which field, which rule."""

    __tablename__ = "sync_rejects"
    __table_args__ = (
        Index("ix_sync_rejects_file", "file_id"),
        Index("ix_sync_rejects_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("erp_files.id", ondelete="CASCADE"))
    line: Mapped[int | None] = mapped_column(Integer)
    record_key: Mapped[str | None] = mapped_column(String(120))
    field: Mapped[str | None] = mapped_column(String(60))
    rule: Mapped[str] = mapped_column(String(60))
    value: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErpMovementKey(Base):
    """Goods-movement lines already applied (MBLNR + MJAHR + line): re-drops are harmless
    and holes in a material document's numbering can be reported."""

    __tablename__ = "erp_movement_keys"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    document: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("erp_files.id", ondelete="SET NULL"))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProductAlias(Base):
    """An ERP's code for a product (SAP MATNR without padding, Protheus B1_COD)."""

    __tablename__ = "product_aliases"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    unit: Mapped[str | None] = mapped_column(String(8))


class LocationAlias(Base):
    """An ERP's code for a location: SAP plant (WERKS) + storage location (LGORT), or a
    Protheus warehouse (B2_LOCAL). An empty ``storage`` matches any storage location."""

    __tablename__ = "location_aliases"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    plant: Mapped[str] = mapped_column(String(20), primary_key=True)
    storage: Mapped[str] = mapped_column(String(20), primary_key=True, default="")
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))


class WriteBackState(StrEnum):
    pending = "pending"
    sent = "sent"
    acknowledged = "acknowledged"
    failed = "failed"


class WriteBack(Base):
    """A change that originated in Sincro, on its way back to the ERP (stable id)."""

    __tablename__ = "erp_writebacks"
    __table_args__ = (Index("ix_erp_writebacks_state", "source", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sync_sources.code"))
    kind: Mapped[str] = mapped_column(String(20), default="goods_movement")
    reference: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[Any] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(14), default=WriteBackState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    file_name: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erp_document: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WriteBackMovement(Base):
    """The ledger rows a write-back carries (their ``erp_known_at`` is set on acknowledgement).
    A movement belongs to one write-back at most, so no sale reaches an ERP twice even if two
    collectors (two ERP sources) see the same location."""

    __tablename__ = "erp_writeback_movements"
    __table_args__ = (UniqueConstraint("movement_id"),)

    writeback_id: Mapped[str] = mapped_column(
        ForeignKey("erp_writebacks.id", ondelete="CASCADE"), primary_key=True
    )
    movement_id: Mapped[int] = mapped_column(ForeignKey("movements.id"), primary_key=True)


class BreakerState(Base):
    """A circuit breaker per source when no Redis is configured (embedded mode)."""

    __tablename__ = "circuit_breakers"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="closed")  # closed|open|half_open
    failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    probe_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReconciliationReport(Base):
    """Drift between what an ERP snapshot says and what the ledger expected, per snapshot."""

    __tablename__ = "reconciliation_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sync_sources.code"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("erp_files.id", ondelete="SET NULL"))
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    positions: Mapped[int] = mapped_column(Integer)
    positions_with_drift: Mapped[int] = mapped_column(Integer)
    units_expected: Mapped[int] = mapped_column(BigInteger)
    units_reported: Mapped[int] = mapped_column(BigInteger)
    units_drift_abs: Mapped[int] = mapped_column(BigInteger)
    largest: Mapped[Any] = mapped_column(JSON)  # [{sku, location, expected, reported, drift}]
    threshold_exceeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
