"""Database plumbing: declarative base, engines, transactions.

Services receive a ``Session`` and never commit; :meth:`Database.write` (used by the request
dependency, the task wrapper and the CLI) owns the transaction. Callbacks registered with
:func:`on_commit` run only after a successful commit (enqueue jobs, wake the feed).

Every engine is bounded in time (:class:`Timeouts`): a connection attempt, a wait for a pooled
connection and each statement end within their limits, and a statement whose server went
silent is cut client-side by :class:`StatementWatchdog`, so a database that is down or hangs
costs a request seconds, not minutes. Long jobs raise the statement limit for their own work
with :func:`long_statements`.

SQLite runs in WAL mode. Write transactions start with ``BEGIN IMMEDIATE`` so that two writers
never both hold a read lock and then deadlock on the upgrade; read sessions use a plain
``BEGIN`` and never block writers.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    TextClause,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    exc as sa_exc,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sincro.config import Settings
    from sincro.group_commit import GroupCommit

log = logging.getLogger("sincro.db")

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


# A JSON document column: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one database's engines, in seconds."""

    connect: float = 5.0  # open a connection, or wait for a free one in the pool
    statement: float = 15.0  # one statement (SQLite: the wait for the write lock)
    long_statement: float = 3600.0  # what :func:`long_statements` allows a long job

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(
            connect=settings.database_connect_timeout_seconds,
            statement=settings.database_statement_timeout_seconds,
            long_statement=settings.database_long_statement_timeout_seconds,
        )


_long_statements: ContextVar[float | None] = ContextVar("sincro_long_statements", default=None)


@contextmanager
def long_statements(seconds: float) -> Iterator[None]:
    """Within the block (this thread or task), every transaction this process begins may run
    statements for up to ``seconds`` (an ERP snapshot, a ledger check), instead of the default
    statement timeout. On SQLite it is the wait for the write lock that grows."""
    token = _long_statements.set(seconds)
    try:
        yield
    finally:
        _long_statements.reset(token)


def statement_limit(timeouts: Timeouts) -> float:
    """The statement limit in force here: a :func:`long_statements` block's, or the default."""
    return _long_statements.get() or timeouts.statement


WATCHDOG_MARGIN_SECONDS = 1.0
# a watchdog with nothing to watch for this long ends its thread: an engine per tenant, test or
# tool must not leave a thread behind for ever
WATCHDOG_IDLE_SECONDS = 10.0


class StatementWatchdog:
    """Cuts the socket of a PostgreSQL connection whose statement outlives its limit.

    The server-side ``statement_timeout`` ends a slow statement, but not one whose server (or
    the network on the way) went silent: the driver would wait on the socket for ever. The
    watchdog shuts that socket down a margin after the limit; the driver then fails with a
    connection error (turned into a 503 by the API) and the pool discards the connection.

    Its thread sleeps until the earliest deadline watched (a statement that finished leaves a
    stale one: the thread then wakes once for nothing), not on a fixed tick: an idle process
    costs no wake-ups (a 5 Hz tick was a fifth of an idle beat's samples)."""

    def __init__(self) -> None:
        self._deadlines: dict[int, tuple[float, Any]] = {}
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread looks next

    def watch(self, dbapi_conn: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            self._deadlines[id(dbapi_conn)] = (deadline, dbapi_conn)
            if self._thread is None:
                self._wake_at = -math.inf
                self._thread = threading.Thread(
                    target=self._run, name="sincro-db-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()

    def done(self, dbapi_conn: Any) -> None:
        self._deadlines.pop(id(dbapi_conn), None)

    def _run(self) -> None:
        idle_until = math.inf
        while True:
            with self._cond:
                now = time.monotonic()
                watched = list(self._deadlines.values())  # done() pops without the lock
                late = [conn for at, conn in watched if at <= now]
                for conn in late:
                    self._deadlines.pop(id(conn), None)
                pending = [at for at, _ in watched if at > now]
                if pending:
                    idle_until = math.inf
                    self._wake_at = min(pending)
                else:
                    idle_until = min(idle_until, now + WATCHDOG_IDLE_SECONDS)
                    if now >= idle_until and not late:
                        self._thread = None  # the next watch() starts a thread
                        return
                    self._wake_at = idle_until
                if not late:
                    self._cond.wait(self._wake_at - now)
            for conn in late:
                _cut(conn)


# each PostgreSQL engine's watchdog and timeouts, for the statements run on raw connections
_watchdogs: weakref.WeakKeyDictionary[Engine, tuple[StatementWatchdog, Timeouts]] = (
    weakref.WeakKeyDictionary()
)


def _cut(dbapi_conn: Any) -> None:
    """Shut down a psycopg connection's socket (the driver's wait then fails at once)."""
    try:
        fd = dbapi_conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        log.warning("database statement past its time limit: connection cut")
    except Exception:  # already closed or broken: nothing left to cut
        log.debug("watchdog could not cut a connection", exc_info=True)


def _sqlite_engine(url: str, begin: str, timeouts: Timeouts) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": timeouts.statement, "check_same_thread": False},
        pool_size=20,
        max_overflow=40,
        pool_timeout=timeouts.connect,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        busy = int(statement_limit(timeouts) * 1000)  # a long job's, already when connecting
        cur.execute(f"PRAGMA busy_timeout={busy}")
        record.info["busy_timeout"] = busy
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-8192")  # KiB: 8 MiB per connection, up to 60 each
        cur.execute("PRAGMA journal_size_limit=67108864")  # a reset WAL shrinks to 64 MB
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        busy = int(statement_limit(timeouts) * 1000)
        if conn.info.get("busy_timeout") != busy:  # sqlite3's own timeout, or a long job's
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy}")
            conn.info["busy_timeout"] = busy
        conn.exec_driver_sql(begin)

    return engine


def _postgres_engine(url: str, pool_size: int, timeouts: Timeouts) -> Engine:
    statement_ms = int(timeouts.statement * 1000)
    engine = create_engine(
        postgres_url(url),
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=False,  # _ping_when_idle: only connections idle for a while
        pool_timeout=timeouts.connect,
        connect_args={
            "connect_timeout": max(1, round(timeouts.connect)),
            # ISO dates whatever the server's default: raw reads take timestamps as text
            # (the outbox tailer, sincro.events.iso_at)
            "options": f"-c statement_timeout={statement_ms} -c DateStyle=ISO",
        },
    )
    watchdog = StatementWatchdog()
    _watchdogs[engine] = (watchdog, timeouts)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        seconds = _long_statements.get()
        if seconds is not None:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cur: Any, _sql: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        limit = statement_limit(timeouts) + WATCHDOG_MARGIN_SECONDS
        watchdog.watch(conn.connection.dbapi_connection, limit)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cur: Any, _sql: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        watchdog.done(conn.connection.dbapi_connection)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        if context.connection is not None and context.connection.connection is not None:
            dbapi_conn = getattr(context.connection.connection, "dbapi_connection", None)
            if dbapi_conn is not None:
                watchdog.done(dbapi_conn)

    _watch_pings(engine, watchdog, timeouts.connect)
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``IDLE_PING_SECONDS``
    (a database restart or a dropped socket shows there), not on every checkout: the
    per-checkout ping was a round trip and ~7 % of the api's samples in a reservation storm.
    A failed ping raises ``DisconnectionError``: the pool then opens a fresh connection."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa_exc.DisconnectionError(str(exc)) from exc
        if not alive:
            raise sa_exc.DisconnectionError("the pooled connection did not answer a ping")


def _watch_pings(engine: Engine, watchdog: StatementWatchdog, seconds: float) -> None:
    """The pool's pre-ping runs on the raw connection, outside the cursor events: bound it
    too, or a pooled connection to a silent server would hang the checkout."""
    dialect = engine.dialect
    ping = dialect.do_ping

    def do_ping(dbapi_conn: Any) -> bool:
        watchdog.watch(dbapi_conn, seconds)
        try:
            return ping(dbapi_conn)
        finally:
            watchdog.done(dbapi_conn)

    dialect.do_ping = do_ping  # type: ignore[method-assign,assignment]


def raise_as_sqlalchemy(engine: Engine, fairy: Any, exc: BaseException) -> None:
    """Raise a driver error met on a raw pooled connection (``fairy``) as SQLAlchemy would
    (a ``DBAPIError`` wrapping it), so the API's error handlers (503 when the database is
    away) and unique-violation checks treat raw and ORM work alike; a connection the driver
    reports as broken leaves the pool. Returns when ``exc`` is not a driver error."""
    dialect = engine.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return
    gone = dialect.is_disconnect(exc, fairy, None)
    if gone:
        fairy.invalidate(exc)
    raise DBAPIError.instance(
        None, None, exc, dbapi.Error, connection_invalidated=gone, dialect=dialect
    ) from exc


def fetch_alone(engine: Engine, statement: bytes | str, params: Any) -> Any:
    """Run one statement as its own transaction (autocommit: no BEGIN, no COMMIT round trip)
    on a pooled connection's psycopg connection and return its first row (None for none).
    Driver errors come out as SQLAlchemy's (:func:`raise_as_sqlalchemy`): the original is in
    ``.orig``. PostgreSQL only (the lean hot paths)."""
    return _alone(engine, statement, params, every=False)


def fetch_all_alone(engine: Engine, statement: bytes | str, params: Any) -> list[Any]:
    """Every row (plain tuples) of one read run alone on a pooled connection's driver
    connection, without SQLAlchemy's execution and row processing: autocommit on PostgreSQL
    (as :func:`fetch_alone`), and on SQLite, whose pooled connections open no transaction
    unless told to, one statement in its own snapshot. The statement is the driver's SQL
    (``%(name)s`` parameters for psycopg, ``:name`` for sqlite3). Unlike :func:`fetch_alone`
    it is bounded by the engine's statement watchdog, like SQLAlchemy's statements: its
    callers are background readers (the outbox tailer) that must not hang on a silent
    server."""
    rows: list[Any] = _alone(engine, statement, params, every=True)
    return rows


def _alone(engine: Engine, statement: bytes | str, params: Any, every: bool) -> Any:
    fairy = engine.raw_connection()
    try:
        conn: Any = fairy.driver_connection
        if engine.dialect.name == "sqlite":
            cur = conn.cursor()
            try:
                cur.execute(statement, params)
                return cur.fetchall() if every else cur.fetchone()
            finally:
                cur.close()
        guard = _watchdogs.get(engine) if every else None
        conn.autocommit = True
        if guard is not None:
            guard[0].watch(conn, statement_limit(guard[1]) + WATCHDOG_MARGIN_SECONDS)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if every else cur.fetchone()
        finally:
            if guard is not None:
                guard[0].done(conn)
            conn.autocommit = False
    except BaseException as exc:
        raise_as_sqlalchemy(engine, fairy, exc)
        raise
    finally:
        fairy.close()


def is_transient(exc: DBAPIError) -> bool:
    """A failure that the same transaction, run again, may not meet."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in {"40001", "40P01"} or "database is locked" in str(exc.orig)


# PostgreSQL SQLSTATEs that say "not now" rather than "wrong": connection exceptions (class
# 08), operator intervention (57: shutdown, cannot connect now, statement timeout) and
# insufficient resources (53: too many connections, out of memory or disk)
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")
SQLITE_UNAVAILABLE = (
    "unable to open database",
    "database is locked",
    "database is busy",
    "disk i/o error",
    "database or disk is full",
)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or did not answer in time
    (refused, timed out, locked past the busy timeout, unreadable file), not that the request
    or the code was wrong."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        if exc.orig is None:
            return isinstance(exc, (OperationalError, InterfaceError))
        exc = exc.orig
    if isinstance(exc, sqlite3.Error):
        message = str(exc).lower()
        return isinstance(exc, sqlite3.InterfaceError) or (
            isinstance(exc, sqlite3.OperationalError)
            and any(text in message for text in SQLITE_UNAVAILABLE)
        )
    return _psycopg_unavailable(exc)


def _psycopg_unavailable(exc: BaseException) -> bool:
    import psycopg

    if not isinstance(exc, psycopg.Error):
        return False
    if exc.sqlstate:
        return exc.sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES)
    # no SQLSTATE: the client failed (refused, timed out, connection lost or closed)
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def postgres_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# SQLite: each Database's write engine (``BEGIN IMMEDIATE``: it takes the write lock) and its
# read engine, so that code holding only an engine can read without locking the writers out
_readers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def reader_for(engine: Engine) -> Engine:
    """The engine to *read* the same database with: a SQLite write engine's read engine (a
    read there does not take the write lock), else ``engine`` itself."""
    return _readers.get(engine, engine)


class Database:
    """Engines and transactions for one database URL."""

    def __init__(self, url: str, pool_size: int = 20, timeouts: Timeouts | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.timeouts = timeouts or Timeouts()
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE", self.timeouts)
            self.read_engine = _sqlite_engine(url, "BEGIN", self.timeouts)
            _readers[self.write_engine] = self.read_engine
        else:
            self.write_engine = _postgres_engine(url, pool_size, self.timeouts)
            self.read_engine = self.write_engine
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._group_commit: GroupCommit | None = None
        self._group_commit_lock = threading.Lock()

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

    @contextmanager
    def long(self) -> Iterator[None]:
        """Within the block, transactions of this thread may run statements up to the long
        limit (``SINCRO_DATABASE_LONG_STATEMENT_TIMEOUT_SECONDS``): for long jobs only."""
        with long_statements(self.timeouts.long_statement):
            yield

    def write_retrying(self, work: Callable[[Session], T], attempts: int = 4) -> T:
        """Run ``work`` in one write transaction, again from the start on a deadlock or a
        serialization failure (PostgreSQL) or a busy database (SQLite), while the statement
        limit has not passed (a database locked for longer is unavailable, not busy)."""
        give_up = time.monotonic() + statement_limit(self.timeouts)
        for attempt in range(attempts):
            try:
                with self.write() as session:
                    return work(session)
            except DBAPIError as exc:
                last = attempt == attempts - 1 or time.monotonic() >= give_up
                if last or not is_transient(exc):
                    raise
        raise AssertionError("unreachable")

    def group_commit(self) -> GroupCommit:
        """SQLite: the writer thread that runs small write units in shared transactions
        (:mod:`sincro.group_commit`), made at first use."""
        if not self.is_sqlite:
            raise RuntimeError("group commit is for SQLite (PostgreSQL has row locks)")
        if self._group_commit is None:
            from sincro.group_commit import GroupCommit

            with self._group_commit_lock:
                if self._group_commit is None:
                    self._group_commit = GroupCommit(self.write_engine)
        return self._group_commit

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


_databases: dict[tuple[str, Timeouts], Database] = {}


def get_database(url: str | None = None, timeouts: Timeouts | None = None) -> Database:
    """The process-wide :class:`Database` for ``url`` (default: the configured one, with the
    configured time limits)."""
    if url is None:
        from sincro.config import get_settings

        settings = get_settings()
        url, timeouts = settings.database_url, timeouts or Timeouts.of(settings)
    key = (url, timeouts or Timeouts())
    if key not in _databases:
        _databases[key] = Database(url, timeouts=key[1])
    return _databases[key]


def database_for(settings: Settings) -> Database:
    """The process-wide :class:`Database` of ``settings`` (URL and time limits)."""
    return get_database(settings.database_url, Timeouts.of(settings))


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


def ids_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` for a list of integer ids that may be long (a page of 1,000
    products): on PostgreSQL ``column = ANY(:array)``, one parameter, so the statement's text
    and its parsing by the driver do not grow with the list; elsewhere an IN list."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger())))
    return column.in_(list(ids))


def strings_in(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values`` for a list of strings that may be long (a page's 1,000 keys): on
    PostgreSQL ``column = ANY(:array)``, one binary array parameter (:class:`BinaryArray`;
    the statement's text does not grow with the list, nor does the driver quote each value
    in Python); elsewhere an IN list."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(bindparam(None, BinaryArray(values)), ARRAY(Text())))
    return column.in_(list(values))


def ids_param(session: Session, name: str) -> tuple[str, Any]:
    """For a raw statement: the SQL of "is one of the ids in parameter ``name``" (to follow a
    column) and the bind parameter to give the statement (see :func:`ids_in`)."""
    if session.get_bind().dialect.name == "postgresql":
        return f"= ANY(:{name})", bindparam(name, type_=ARRAY(BigInteger()))
    return f"IN :{name}", bindparam(name, expanding=True)


class BinaryArray(list[Any]):
    """A list psycopg sends as a binary array parameter (``CAST(:p AS type[])`` in the SQL).

    psycopg's text format builds the literal element by element in Python (quoting and
    escaping each one: ~7 µs a 200-character string); its binary format writes the elements
    in C, about seven times cheaper, which a sync paying it for every column of every record
    notices. Only lists wrapped in this class are sent so; other lists keep their format."""


psycopg.adapters.register_dumper(BinaryArray, ListBinaryDumper)


def upsert_rows(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str],
    where: str | None = None,
) -> None:
    """PostgreSQL: insert or update ``rows`` of ``model``'s table (the same keys in each) in
    ONE statement whatever their number, ``INSERT … SELECT … FROM unnest(one array per
    column) ON CONFLICT (conflict) DO UPDATE SET update = excluded.update [WHERE where]``:
    executemany cost a sync ~30-100 µs of client CPU per row. Values go through their column
    type's bind processing (UTC datetimes…); of rows with the same ``conflict`` key, the last
    one is written."""
    dialect = session.get_bind().dialect
    table = model.__table__
    assert isinstance(table, Table)
    unique = list({tuple(row[c] for c in conflict): row for row in rows}.values())
    names = list(unique[0])
    params: dict[str, Any] = {}
    casts = []
    for i, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in unique]
        process = column.type.bind_processor(dialect)
        if process is not None:
            values = [process(v) for v in values]
        params[f"c{i}"] = BinaryArray(values)
        casts.append(f"CAST(:c{i} AS {column.type.compile(dialect=dialect)}[])")
    listed = ", ".join(names)
    statement = (
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM unnest({', '.join(casts)})"
        f" AS u({listed}) ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in update)
        + (f" WHERE {where}" if where else "")
    )
    session.execute(text(statement), params)


_ANALYSED_TABLES: set[tuple[str, str]] = set()  # (database URL, table) seen analysed


def analyse_once(session: Session, table: str) -> None:
    """PostgreSQL: ``ANALYZE`` ``table`` if it has never been analysed (``reltuples < 0``).

    A table filled by a first bulk load has no statistics until autovacuum gets to it (a
    minute or more; never where autovacuum is off), and the planner then takes an ``IN`` of a
    page's keys as matching every row: the documents sync used the unique index on its first
    column alone and filtered every earlier row, a page costing more as the table grew
    (quadratic over a 114,000-document sync). Statistics taken after the first page say the
    keys are nearly unique, and as a fraction of the table they stay true as it grows. One
    catalog lookup per call until the table is seen analysed, then nothing."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    key = (str(bind.engine.url), table)
    if key in _ANALYSED_TABLES:
        return
    tuples = session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}
    )
    if tuples is not None and tuples < 0:
        session.execute(text(f"ANALYZE {table}"))
    else:
        _ANALYSED_TABLES.add(key)


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
