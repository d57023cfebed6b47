"""SQL of the SAP file connector: the file ledger, the per-source lock, typed raw statements,
and bulk loading of temporary tables (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from sincro.connectors.models import ErpFile, FileState, SyncReject, SyncSource
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import Reject
from sincro.db import Database, committing, utcnow

TEMP_BUFFERS = "256MB"
WORK_MEM = "128MB"
SQLITE_CACHE_KIB = 131_072

# A file in one of these states is "the same drop" when its bytes come again.
LIVE_STATES = (FileState.received, FileState.processing, FileState.done, FileState.superseded)


def ensure_source(session: Session, cfg: SapFilesSource) -> SyncSource:
    source = session.get(SyncSource, cfg.code)
    if source is None:
        source = SyncSource(code=cfg.code, kind=cfg.kind, name=cfg.name, active=cfg.active)
        session.add(source)
        session.flush()
    return source


def same_bytes(
    session: Session, source: str, sha256: str, states: Iterable[FileState] = LIVE_STATES
) -> Sequence[ErpFile]:
    """Inbound files of ``source`` with these bytes in one of ``states``, oldest first."""
    return session.scalars(
        select(ErpFile)
        .where(
            ErpFile.source == source,
            ErpFile.direction == "in",
            ErpFile.sha256 == sha256,
            ErpFile.state.in_([s.value for s in states]),
        )
        .order_by(ErpFile.id)
    ).all()


def files(
    session: Session, source: str | None = None, state: str | None = None, limit: int = 50
) -> Sequence[ErpFile]:
    query = select(ErpFile).order_by(ErpFile.id.desc()).limit(limit)
    if source:
        query = query.where(ErpFile.source == source)
    if state:
        query = query.where(ErpFile.state == state)
    return session.scalars(query).all()


def pending_files(
    session: Session, source: str, *, before: int | None = None, kinds: Iterable[str] | None = None
) -> list[int]:
    query = select(ErpFile.id).where(
        ErpFile.source == source,
        ErpFile.direction == "in",
        ErpFile.state.in_([FileState.received.value, FileState.processing.value]),
    )
    if before is not None:
        query = query.where(ErpFile.id < before)
    if kinds is not None:
        query = query.where(ErpFile.kind.in_(list(kinds)))
    return list(session.scalars(query.order_by(ErpFile.id)))


def add_rejects(
    session: Session,
    source: str,
    entity: str,
    file_id: int,
    run_id: int | None,
    rejects: Sequence[Reject],
) -> None:
    if not rejects:
        return
    now = utcnow()
    session.execute(
        insert(SyncReject),
        [
            {
                "source": source,
                "entity": entity,
                "run_id": run_id,
                "file_id": file_id,
                "line": r.line,
                "record_key": (r.key or "")[:120] or None,
                "field": r.field,
                "rule": r.rule,
                "value": (r.value or "")[:200] or None,
                "message": r.message,
                "created_at": now,
            }
            for r in rejects
        ],
    )


# --- one connection per file, and the source lock ---------------------------------------------


@contextmanager
def connection(db: Database) -> Iterator[Connection]:
    """A dedicated connection: temporary tables and the PostgreSQL advisory lock live on it.

    On PostgreSQL it gets room for the temporary tables and the one-pass joins of a large
    snapshot (``temp_buffers`` must be set before the session touches a temporary table, so
    the connection is discarded afterwards rather than returned to the pool); on SQLite a
    larger page cache for this connection only."""
    with db.write_engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SET temp_buffers = '{TEMP_BUFFERS}'"))
            conn.execute(text(f"SET work_mem = '{WORK_MEM}'"))
            conn.commit()
            try:
                yield conn
            finally:
                conn.invalidate()
            return
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA cache_size=-8192")
            conn.commit()


@contextmanager
def tx(conn: Connection) -> Iterator[Session]:
    """One transaction on ``conn`` (commits on success), running ``on_commit`` callbacks after."""
    with committing(Session(bind=conn, expire_on_commit=False)) as session:
        yield session


def lock_key(code: str) -> int:
    return zlib.crc32(f"sincro.sap_files:{code}".encode()) & 0x7FFFFFFF


@contextmanager
def source_lock(conn: Connection, cfg: SapFilesSource) -> Iterator[None]:
    """One file of a source at a time (files of a source must apply in order). PostgreSQL: a
    session advisory lock on ``conn``; SQLite (one machine): ``flock`` on a lock file next to
    the database file. Both are released by the OS or the server when the process dies."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(cfg.code)})
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(cfg.code)})
            conn.commit()
        return
    database = conn.engine.url.database or ""
    lock_file = (
        Path(f"{database}.sap-{cfg.code}.lock")
        if database and database != ":memory:"
        else (Path(tempfile.gettempdir()) / f"sincro-sap-{cfg.code}.lock")
    )
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def as_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)
