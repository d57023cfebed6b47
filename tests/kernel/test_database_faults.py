"""A database that is down, silent or locked: 503 with Retry-After fast, never a 500 or a hang.

PostgreSQL runs behind a loopback proxy the test switches to "refuse" (connections refused,
open ones reset) or "black hole" (accepts, never answers). SQLite is locked by another
connection past the busy timeout, or cannot be opened at all.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database, reset_databases
from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD, sign_in
from tests.factories import make_key, make_location, make_product, receive
from tests.faultproxy import FaultProxy
from tests.services import REDIS_URL

CONNECT_TIMEOUT = 1.0
STATEMENT_TIMEOUT = 2.0
# the slowest path: a pooled connection's ping cut by the watchdog, then a connect timeout
FAST = CONNECT_TIMEOUT * 2 + STATEMENT_TIMEOUT + 2.0
ONE_RECEIPT = {
    "movements": [{"sku": "WARM-1", "location": "CD01", "quantity": 1, "reason": "receipt"}]
}


@dataclass
class World:
    client: TestClient
    proxy: FaultProxy | None
    admin: str
    channel: str


def _seed(db: Database) -> tuple[str, str]:
    with db.write() as s:
        make_location(s, code="CD01", kind="dc")
        make_product(s, sku="WARM-1", name="Cabo USB")
        make_product(s, sku="COLD-1", name="Carregador")
        receive(s, "WARM-1", "CD01", 10)
        receive(s, "COLD-1", "CD01", 10)
        create_user(s, USER_EMAIL, USER_NAME, USER_PASSWORD)
        return make_key(s, Role.admin), make_key(s, Role.channel)


def _settings(url: str, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_connect_timeout_seconds": CONNECT_TIMEOUT,
        "database_statement_timeout_seconds": STATEMENT_TIMEOUT,
        "availability_warm_skus": 0,  # what is cached is what the test reads, nothing else
        **extra,
    }
    return Settings(
        database_url=url,
        var_dir=tmp_path,
        broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        log_json=False,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def pg_world(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[World]:
    """An api on PostgreSQL through the proxy (shared state in Redis, as in production)."""
    database = Database(postgres_url)
    from tests.conftest import wipe

    wipe(database)
    admin, channel = _seed(database)
    database.dispose()
    proxy = FaultProxy(("127.0.0.1", 5432))
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = _settings(
        url,
        tmp_path,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        availability_cache_ttl_seconds=1.0,
    )
    try:
        with TestClient(create_app(settings)) as client:
            yield World(client, proxy, admin, channel)
    finally:
        proxy.close()
        reset_databases()


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["error"]["code"] == "database_unavailable"
    else:
        assert "Sistema indisponível" in response.text


def _every_database_call_fails_fast(world: World) -> None:
    c = world.client
    admin, channel = {"X-API-Key": world.admin}, {"X-API-Key": world.channel}
    calls = [
        lambda: c.get("/v1/products", headers=admin),
        lambda: c.get("/v1/availability/COLD-1", headers=channel),
        lambda: c.post(
            "/v1/reservations",
            headers={**channel, "Idempotency-Key": "r1"},
            json={"lines": [{"sku": "WARM-1", "qty": 1}], "ttl_seconds": 60},
        ),
        lambda: c.post(
            "/v1/movements",
            headers={**admin, "Idempotency-Key": "m1"},
            json=ONE_RECEIPT,
        ),
        lambda: c.get("/v1/search", params={"q": "cabo"}, headers=admin),
        lambda: c.get("/console/locations"),
    ]
    for call in calls:
        started = time.monotonic()
        _unavailable(call())
        assert time.monotonic() - started < FAST


def _cached_availability_still_served(world: World) -> None:
    channel = {"X-API-Key": world.channel}
    time.sleep(1.1)  # past the TTL: the snapshot is served stale
    response = world.client.get("/v1/availability/WARM-1", headers=channel)
    assert response.status_code == 200, response.text
    assert response.json()["online_available"] == 10
    assert response.headers["sincro-stale"] == "true"


def _warm(world: World) -> None:
    assert sign_in(world.client).status_code == 303
    assert world.client.get("/console/locations").status_code == 200
    response = world.client.get("/v1/availability/WARM-1", headers={"X-API-Key": world.channel})
    assert response.status_code == 200 and "sincro-stale" not in response.headers
    assert world.client.get("/ready").status_code == 200


def _back(world: World) -> None:
    deadline = time.monotonic() + 15
    while world.client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the database came back"
        time.sleep(0.2)
    response = world.client.get("/v1/products", headers={"X-API-Key": world.admin})
    assert response.status_code == 200, response.text
    warm = world.client.get("/v1/availability/WARM-1", headers={"X-API-Key": world.channel})
    assert warm.status_code == 200


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_postgres_down_or_silent_answers_503_fast(pg_world: World, fault: str) -> None:
    assert pg_world.proxy is not None
    _warm(pg_world)
    pg_world.proxy.set_mode(fault)  # type: ignore[arg-type]
    _every_database_call_fails_fast(pg_world)
    _cached_availability_still_served(pg_world)
    assert pg_world.client.get("/health").status_code == 200
    started = time.monotonic()
    assert pg_world.client.get("/ready").status_code == 503
    assert time.monotonic() - started < FAST
    pg_world.proxy.set_mode("forward")
    _back(pg_world)


def test_api_started_with_postgres_down_starts_and_becomes_ready(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    proxy = FaultProxy(("127.0.0.1", 5432))
    proxy.set_mode("refuse")
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = _settings(url, tmp_path, redis_url=REDIS_URL, redis_prefix=redis_prefix)
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 503
            world = World(client, proxy, "", "")
            proxy.set_mode("forward")
            deadline = time.monotonic() + 15
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            hub = client.app.state.sincro.services["feed.hub"]  # type: ignore[attr-defined]
            deadline = time.monotonic() + 5
            while hub._task is None:  # the deferred start ran: the feed follows the outbox
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert world.client.get("/health").status_code == 200
    finally:
        proxy.close()
        reset_databases()


def test_sqlite_locked_past_busy_timeout_answers_503(sqlite_url: str, tmp_path: Path) -> None:
    database = Database(sqlite_url)
    from tests.conftest import wipe

    wipe(database)
    admin, _ = _seed(database)
    database.dispose()
    settings = _settings(sqlite_url, tmp_path, database_statement_timeout_seconds=0.5)
    path = sqlite_url.removeprefix("sqlite:///")
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/v1/products", headers={"X-API-Key": admin}).status_code == 200
            locker = sqlite3.connect(path, isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                response = client.post(
                    "/v1/movements",
                    headers={"X-API-Key": admin, "Idempotency-Key": "locked-1"},
                    json=ONE_RECEIPT,
                )
                _unavailable(response)
                assert time.monotonic() - started < 5
            finally:
                locker.execute("ROLLBACK")
                locker.close()
    finally:
        reset_databases()


def test_sqlite_file_that_cannot_be_opened_answers_503(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "sincro.sqlite"
    settings = _settings(f"sqlite:///{missing}", tmp_path)
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 503
            _unavailable(client.get("/v1/products", headers={"X-API-Key": "sk_abc_def"}))
    finally:
        reset_databases()


def test_integrity_errors_are_not_unavailability() -> None:
    from sincro.db import is_unavailable

    assert not is_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_unavailable(sqlite3.OperationalError("no such column: x"))
    assert is_unavailable(sqlite3.OperationalError("database is locked"))


def test_statement_limit_and_long_jobs(database_url: str) -> None:
    """The default limit ends a slow statement (as unavailability, so a 503); a long job's
    block lets the same statement finish. SQLite: the wait for the write lock."""
    from sqlalchemy import text

    from sincro.db import Timeouts, is_unavailable

    database = Database(database_url, timeouts=Timeouts(connect=1, statement=0.3))
    path = database_url.removeprefix("sqlite:///")

    def slow(session_db: Database) -> None:
        if database.is_sqlite:
            locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            locker.execute("BEGIN IMMEDIATE")
            threading.Timer(0.8, lambda: (locker.execute("ROLLBACK"), locker.close())).start()
            with session_db.write() as session:
                session.execute(text("SELECT 1"))
        else:
            with session_db.read() as session:
                session.execute(text("SELECT pg_sleep(0.8)"))

    try:
        with pytest.raises(Exception) as caught:
            slow(database)
        assert is_unavailable(caught.value)
        time.sleep(0.6)  # the SQLite lock is released
        with database.long():
            slow(database)
    finally:
        database.dispose()


def test_an_idle_watchdog_ends_its_thread_and_a_new_watch_starts_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every PostgreSQL engine has a statement watchdog; one that has nothing to watch must not
    keep a thread for ever (a process with many engines — tests, tools — would collect them),
    yet a statement watched later is still cut."""
    from sincro import db as dbmod

    monkeypatch.setattr(dbmod, "WATCHDOG_IDLE_SECONDS", 0.03)
    cut: list[object] = []
    monkeypatch.setattr(dbmod, "_cut", cut.append)
    watchdog = dbmod.StatementWatchdog()
    conn = object()
    watchdog.watch(conn, 0.5)  # the thread sleeps until then (done() does not wake it)
    first = watchdog._thread
    assert first is not None and first.is_alive()
    watchdog.done(conn)
    first.join(timeout=2)
    assert not first.is_alive() and watchdog._thread is None
    late = object()
    watchdog.watch(late, 0.0)  # already past its limit
    deadline = time.monotonic() + 2
    while not cut and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cut == [late]


def test_a_shorter_deadline_wakes_a_watchdog_sleeping_on_a_longer_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watchdog's thread sleeps until the earliest deadline it knows: a statement watched
    meanwhile with a nearer deadline (a long job's connection beside a request's) wakes it."""
    from sincro import db as dbmod

    cut: list[object] = []
    monkeypatch.setattr(dbmod, "_cut", cut.append)
    watchdog = dbmod.StatementWatchdog()
    slow, quick = object(), object()
    watchdog.watch(slow, 60.0)
    time.sleep(0.05)  # the thread now waits for the slow statement's deadline
    started = time.monotonic()
    watchdog.watch(quick, 0.1)
    while not cut and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert cut == [quick] and time.monotonic() - started < 2
    watchdog.done(slow)
