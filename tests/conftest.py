"""Shared fixtures: a migrated SQLite file and a migrated PostgreSQL database per test run.

Tests that change data commit for real (the services own their transactions and concurrency
tests need several connections), so each test starts from empty tables instead of rolling
back: ``clean_db`` deletes every row before the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, text

from sincro.catalog.service import forget_directory
from sincro.config import Settings, reset_settings
from sincro.db import Database, reset_databases
from sincro.migrate import upgrade
from sincro.models import metadata
from tests.services import (
    REDIS_URL,
    absent,
    create_pg_database,
    drop_pg_database,
    drop_pg_databases_left,
    migrated_sqlite,
)

pytest_plugins = ["tests.browser"]

os.environ.setdefault("SINCRO_LOG_JSON", "false")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; a test that changes the environment must not leak."""
    yield
    reset_settings()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run and never written: tests that need a database of
    their own copy it (``tests.services.migrated_sqlite``) instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "sincro.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    return migrated_sqlite(sqlite_template, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per run that nobody connects to again: tests that
    need a migrated database of their own get a copy (``create_pg_database(template)``)."""
    url = create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def postgres_url(postgres_template: str) -> Iterator[str]:
    url = create_pg_database(postgres_template)
    try:
        yield url
    finally:
        reset_databases()
        drop_pg_database(url)


@pytest.fixture
def own_postgres(postgres_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own (the run's shared one holds other
    tests' rows), dropped at the end."""
    url = create_pg_database(postgres_template)
    try:
        yield url
    finally:
        drop_pg_database(url, at_end=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own at head, of each kind (a copy of the run's template)."""
    if request.param == "sqlite":
        yield migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    url = create_pg_database(request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        drop_pg_database(url, at_end=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (not the session's, which is already at head)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url, at_end=True)


_FILLED_TABLES_SQL = " UNION ALL ".join(
    f"SELECT '{t.name}' WHERE EXISTS (SELECT FROM \"{t.name}\")" for t in metadata.sorted_tables
)
# a sequence's last_value is NULL until it is first drawn from after a (re)start
_DRAWN_SEQUENCES_SQL = (
    "SELECT sequencename FROM pg_sequences "
    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
)


def wipe(db: Database) -> None:
    """Empty every table and restart identities, so the outbox sequence starts again at 1
    (an emptied table with a sequence far ahead would look like a hole to a new tailer).

    On PostgreSQL only what the last test touched is emptied: one query finds the tables
    holding rows and the sequences ever drawn from, then those tables are deleted from
    (children first) and those sequences restarted. A TRUNCATE of all 60-odd tables made new
    files for each of them on every test, about a second per PostgreSQL test on a busy CI
    machine; the tables end up exactly as empty and the identities as fresh."""
    with db.write() as session:
        if db.is_sqlite:
            for table in reversed(metadata.sorted_tables):
                session.execute(delete(table))
            session.execute(text("DELETE FROM sqlite_sequence"))
        else:
            filled = set(session.scalars(text(_FILLED_TABLES_SQL)))
            for table in reversed(metadata.sorted_tables):
                if table.name in filled:
                    session.execute(delete(table))
            for sequence in session.scalars(text(_DRAWN_SEQUENCES_SQL)):
                session.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    forget_directory()
    from sincro.access.service import forget_keys

    forget_keys()


def _wiped(url: str) -> Iterator[Database]:
    database = Database(url)
    wipe(database)
    yield database
    database.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    yield from _wiped(database_url)


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[Database]:
    """The run's PostgreSQL database, emptied, for what only PostgreSQL has (no SQLite twin
    to skip)."""
    yield from _wiped(postgres_url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path,
        broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        log_json=False,
        availability_warm_skus=0,  # tests that count loads start cold; the warm-up test opts in
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis (skipped, or failed under CI, when
    Redis is absent); its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        absent("Redis", str(exc))
    prefix = f"sincro-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_pg_databases_left()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``one_database`` keep their SQLite run only: what they check (a console
    page's rendering, the Celery path to a worker) does not depend on the database, and the
    services and SQL behind them are tested on both. Keeps the suite inside its time budget
    (docs/architecture.md, Testing strategy)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgresql" in str(callspec.id).split("-")
        if item.get_closest_marker("one_database") and on_postgres:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
