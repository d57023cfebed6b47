"""Database plumbing: declarative base, engines, transactions.

Services receive a ``Session`` and never commit; :meth:`Database.write` (used by the request
dependency, the task wrapper and the CLI) owns the transaction. Callbacks registered with
:func:`on_commit` run only after a successful commit (enqueue jobs, wake the feed).

SQLite runs in WAL mode. Write transactions start with ``BEGIN IMMEDIATE`` so that two writers
never both hold a read lock and then deadlock on the upgrade; read sessions use a plain
``BEGIN`` and never block writers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    TextClause,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC as a naive timestamp (portable to SQLite), returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Sincro stores aware UTC datetimes only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        pool_size=20,
        max_overflow=40,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-8192")  # KiB: 8 MiB per connection, up to 60 each
        cur.execute("PRAGMA journal_size_limit=67108864")  # a reset WAL shrinks to 64 MB
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def is_transient(exc: DBAPIError) -> bool:
    """A failure that the same transaction, run again, may not meet."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in {"40001", "40P01"} or "database is locked" in str(exc.orig)


def postgres_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """Engines and transactions for one database URL."""

    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        else:
            self.write_engine = create_engine(
                postgres_url(url),
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_pre_ping=True,
                pool_timeout=60,
            )
            self.read_engine = self.write_engine
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction: commits on success, rolls back on any error."""
        with committing(self._write()) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction, ended by ``close()`` (which rolls back without expiring the
        loaded objects, so they stay readable after the block)."""
        session = self._read()
        try:
            yield session
        finally:
            session.close()

    def write_retrying(self, work: Callable[[Session], T], attempts: int = 4) -> T:
        """Run ``work`` in one write transaction, again from the start on a deadlock or a
        serialization failure (PostgreSQL) or a busy database (SQLite)."""
        for attempt in range(attempts):
            try:
                with self.write() as session:
                    return work(session)
            except DBAPIError as exc:
                if attempt == attempts - 1 or not is_transient(exc):
                    raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Use ``session`` for one transaction: commit on success, roll back on any error, close
    it, then run its ``on_commit`` callbacks (only after a commit)."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    _run_after_commit(session)


def before_commit(session: Session, key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` once, last thing in the session's transaction, just before it commits
    (a second registration under the same ``key`` is ignored). Work that takes contended locks
    (a shared counter row, a shared vocabulary) goes here, so that it holds them only for the
    end of the transaction and always after everything else."""
    session.info.setdefault("before_commit", {}).setdefault(key, callback)


@event.listens_for(Session, "before_commit")
def _run_before_commit(session: Session) -> None:
    callbacks = session.info.pop("before_commit", {})
    for callback in callbacks.values():
        callback()


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after the session's transaction commits (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop("after_commit", []):
        callback()


_databases: dict[str, Database] = {}


def get_database(url: str | None = None) -> Database:
    """The process-wide :class:`Database` for ``url`` (default: the configured one)."""
    if url is None:
        from sincro.config import get_settings

        url = get_settings().database_url
    if url not in _databases:
        _databases[url] = Database(url)
    return _databases[url]


def reset_databases() -> None:
    """Dispose every engine (tests, and child processes after fork)."""
    for db in _databases.values():
        db.dispose()
    _databases.clear()


def sql(statement: str, *datetimes: str) -> TextClause:
    """A raw statement whose named datetime parameters go through ``UTCDateTime`` (so SQLite
    stores them in the same text format as the ORM does)."""
    clause = text(statement)
    if datetimes:
        clause = clause.bindparams(*[bindparam(name, type_=UTCDateTime()) for name in datetimes])
    return clause


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Append rows to a (temporary) table: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    raw_sqlite: Any = conn.connection.driver_connection
    raw_sqlite.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def first_nonempty(cur: Any, tables: Sequence[str]) -> tuple[str, int] | None:
    """Through a raw DBAPI cursor: the first of ``tables`` that has rows, with their count (up
    to a million counted), or None when all are empty. A missing table raises the driver's
    error."""
    for table in tables:
        cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1000000) AS t")
        rows = cur.fetchone()[0]
        if rows:
            return table, int(rows)
    return None


COPY_MIN_ROWS = 200


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many rows (all with the same keys) in the session's transaction.

    PostgreSQL takes a large batch through COPY, about ten times faster than SQLAlchemy's
    multi-row INSERT (which binds and adapts every value as a parameter); aware datetimes are
    turned into the naive UTC that ``UTCDateTime`` stores. Elsewhere (and for small batches) an
    executemany INSERT through the column types."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        session.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    naive = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)}
    converted: dict[dt.datetime, dt.datetime] = {}  # rows of a batch share few moments
    raw: Any = conn.connection.driver_connection
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as cp:
        for row in rows:
            values = list(row.values())
            for i in naive:
                moment = values[i]
                if moment is not None:
                    value = converted.get(moment)
                    if value is None:
                        value = converted[moment] = moment.astimezone(dt.UTC).replace(tzinfo=None)
                    values[i] = value
            cp.write_row(values)
