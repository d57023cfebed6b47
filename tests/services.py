"""Reaching the real servers tests need; skip (or fail under CI=true) when one is absent."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("SINCRO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SINCRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("SINCRO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def absent(what: str, why: str) -> None:
    """Skip with a clear reason on a developer machine; fail under CI, where it must exist."""
    message = f"{what} is not reachable ({why})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def create_pg_database(template: str | None = None) -> str:
    """Create a fresh PostgreSQL database, empty or a copy of the database at URL ``template``
    (which nobody may be connected to); returns its URL (drop it with drop_pg_database)."""
    import psycopg

    name = unique("sincro_test")
    copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
            # a commit need not wait for its WAL flush: only a crash of the server itself (never
            # of a Sincro process, which is what tests kill) could lose one
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except psycopg.OperationalError as exc:
        absent("PostgreSQL", str(exc).strip().splitlines()[0])
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


_DROP_AT_END: list[str] = []


def drop_pg_database(url: str, *, at_end: bool = False) -> None:
    """Drop the database now, or with ``at_end`` when the test run ends (tests/conftest.py):
    DROP DATABASE forces a checkpoint, seconds while the run keeps the server busy and little
    once it is over."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if at_end:
        _DROP_AT_END.append(name)
        return
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_pg_databases_left() -> None:
    """Drop the databases whose drop was put off to the end of the run."""
    import psycopg

    if not _DROP_AT_END:
        return
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        while _DROP_AT_END:
            conn.execute(f'DROP DATABASE IF EXISTS "{_DROP_AT_END.pop()}" WITH (FORCE)')


@contextmanager
def serving(app: Any, start_seconds: float = 20.0) -> Iterator[int]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the port. The
    socket is bound here and handed over, so no other process can take the port meanwhile."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def migrated_sqlite(template: Path, folder: Path) -> str:
    """A SQLite database at head in ``folder``: a copy of the run's migrated template
    (``sqlite_template`` in tests/conftest.py), seconds cheaper than migrating again."""
    target = folder / "sincro.sqlite"
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"
