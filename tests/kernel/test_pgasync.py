"""The event loop's PostgreSQL pool (``sincro/pgasync.py``): a database that restarts, goes
silent or refuses, a statement that fails in the server, and more requests than connections.

PostgreSQL runs behind the loopback :class:`FaultProxy` where a test needs to break it; a
restart is the server ending every backend of the pool (``pg_terminate_backend``), which is
what clients see of a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from sincro import pgasync
from sincro.db import Timeouts, is_unavailable
from sincro.errors import database_unavailable
from tests.faultproxy import FaultProxy

TIMEOUTS = Timeouts(connect=1.0, statement=1.0)
# a statement to a silent server: the statement limit, the margin, and some slack
FAST = TIMEOUTS.statement + pgasync.WATCHDOG_MARGIN_SECONDS + 1.5
PLAIN = "psycopg-pool-test"


def run(work: Callable[[], Awaitable[Any]]) -> Any:
    """``work()`` on a fresh event loop (a pool belongs to the loop that made it)."""

    async def main() -> Any:
        return await work()

    return asyncio.run(main())


def _backends(url: str) -> list[int]:
    with psycopg.connect(pgasync.conninfo(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (PLAIN,)
        ).fetchall()
    return [pid for (pid,) in rows]


def _terminate(url: str) -> int:
    with psycopg.connect(pgasync.conninfo(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (PLAIN,),
        ).fetchall()
    return len(rows)


def _named(url: str) -> str:
    """The URL with an application name, so the test finds its backends."""
    return url + ("&" if "?" in url else "?") + f"application_name={PLAIN}"


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    fault = FaultProxy(("127.0.0.1", 5432))
    try:
        yield fault
    finally:
        fault.close()


def _through(url: str, proxy: FaultProxy) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def test_statements_share_few_connections_and_wait_for_a_free_one(postgres_url: str) -> None:
    async def work() -> tuple[list[Any], int]:
        pool = pgasync.AsyncPool(postgres_url, TIMEOUTS, size=3)
        rows = await asyncio.gather(
            *(pool.fetchone("SELECT %(n)s::int, pg_sleep(0.01)", {"n": n}) for n in range(30))
        )
        await pool.close()
        return [row[0] for row in rows if row is not None], pool.opened

    values, opened = run(work)
    assert values == list(range(30))
    assert opened == 3


def test_a_wait_for_a_free_connection_is_bounded(postgres_url: str) -> None:
    async def work() -> BaseException | None:
        pool = pgasync.AsyncPool(postgres_url, Timeouts(connect=0.3, statement=5.0), size=1)
        slow = asyncio.create_task(pool.fetchone("SELECT pg_sleep(1.0)", {}))
        await asyncio.sleep(0.1)
        try:
            await pool.fetchone("SELECT 1", {})
        except sa_exc.TimeoutError as exc:
            return exc
        finally:
            await slow
            await pool.close()
        return None

    started = time.monotonic()
    error = run(work)
    assert isinstance(error, sa_exc.TimeoutError) and is_unavailable(error)
    assert time.monotonic() - started < 3


async def _failed_then_next(
    pool: pgasync.AsyncPool, failing: str, params: dict[str, Any]
) -> tuple[sa_exc.DBAPIError | None, Any, int]:
    """The error of ``failing``, then the row of the next statement, and connections opened."""
    error = None
    try:
        await pool.fetchone(failing, params)
    except sa_exc.DBAPIError as exc:
        error = exc
    row = await pool.fetchone("SELECT 2", {})
    await pool.close()
    return error, row, pool.opened


def test_a_statement_failing_in_the_server_keeps_its_connection(postgres_url: str) -> None:
    async def work() -> tuple[sa_exc.DBAPIError | None, Any, int]:
        pool = pgasync.AsyncPool(postgres_url, TIMEOUTS, size=1)
        return await _failed_then_next(pool, "SELECT 1 / %(zero)s", {"zero": 0})

    failed, row, opened = run(work)
    assert failed is not None and isinstance(failed.orig, psycopg.errors.DivisionByZero)
    assert not failed.connection_invalidated and not is_unavailable(failed)
    assert row == (2,) and opened == 1


def test_after_a_restart_one_statement_fails_as_unavailable_then_a_new_connection_serves(
    postgres_url: str,
) -> None:
    """A statement on a connection the server ended is not retried (it may have committed):
    it fails as a 503; the broken connection is dropped and the next statement opens one."""
    url = _named(postgres_url)

    async def work() -> tuple[sa_exc.DBAPIError | None, Any, int]:
        pool = pgasync.AsyncPool(url, TIMEOUTS, size=2)
        assert await pool.fetchone("SELECT 1", {}) == (1,)
        assert await asyncio.to_thread(_terminate, postgres_url) == 1
        await asyncio.sleep(0.2)
        return await _failed_then_next(pool, "SELECT 3", {})

    error, row, opened = run(work)
    assert isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated
    assert database_unavailable(error) is not None
    assert row == (2,) and opened == 2


def test_a_connection_idle_for_long_is_pinged_and_replaced_after_a_restart(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the idle time the pool pings first: a restart costs no request at all."""
    monkeypatch.setattr(pgasync, "IDLE_PING_SECONDS", 0.1)
    url = _named(postgres_url)

    async def work() -> tuple[Any, int, list[int]]:
        pool = pgasync.AsyncPool(url, TIMEOUTS, size=2)
        assert await pool.fetchone("SELECT 1", {}) == (1,)
        before = await asyncio.to_thread(_backends, postgres_url)
        await asyncio.to_thread(_terminate, postgres_url)
        await asyncio.sleep(0.3)
        row = await pool.fetchone("SELECT 2", {})
        after = await asyncio.to_thread(_backends, postgres_url)
        await pool.close()
        return row, pool.opened, [pid for pid in after if pid in before]

    row, opened, survivors = run(work)
    assert row == (2,) and opened == 2 and survivors == []


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_a_database_down_or_silent_fails_fast_and_the_pool_recovers(
    postgres_url: str, proxy: FaultProxy, fault: str
) -> None:
    url = _through(postgres_url, proxy)

    async def attempt(pool: pgasync.AsyncPool) -> tuple[BaseException | None, float]:
        started = time.monotonic()
        try:
            await pool.fetchone("SELECT 1", {})
        except Exception as exc:
            return exc, time.monotonic() - started
        return None, time.monotonic() - started

    async def work() -> list[tuple[BaseException | None, float]]:
        pool = pgasync.AsyncPool(url, TIMEOUTS, size=2)
        assert await pool.fetchone("SELECT 1", {}) == (1,)
        proxy.set_mode(fault)  # type: ignore[arg-type]
        down = [await attempt(pool), await attempt(pool)]  # a pooled one, then a new one
        proxy.set_mode("forward")
        back = await attempt(pool)
        await pool.close()
        return [*down, back]

    *down, back = run(work)
    for error, seconds in down:
        assert error is not None and database_unavailable(error) is not None, error
        assert seconds < FAST
    assert back[0] is None


def test_a_pool_used_from_another_loop_is_replaced(postgres_url: str) -> None:
    """The inventory runtime keeps one pool per event loop (a test client's loop ends)."""
    from sincro.inventory.runtime import POOL, reservation_pool

    db = SimpleNamespace(url=postgres_url, is_sqlite=False, timeouts=TIMEOUTS)
    state: Any = SimpleNamespace(services={}, db=db)

    async def use() -> pgasync.AsyncPool | None:
        pool = reservation_pool(state)
        assert pool is not None and await pool.fetchone("SELECT 1", {}) == (1,)
        return pool

    first = run(use)
    second = run(use)
    assert first is not second and state.services[POOL] is second
    second.abandon()
