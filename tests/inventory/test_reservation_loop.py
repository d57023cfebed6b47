"""The lean statement runs on the inventory's reservation loop (``runtime.reserve_on_loop``),
a thread of its own, not on the loop serving requests; the app's stop closes its connections
and ends the thread; answers and errors cross back to the
request as the route's statuses (PostgreSQL: SQLite takes the reservation threads)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from sincro.app import create_app
from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.db import Database
from sincro.inventory import lean, runtime
from sincro.pgasync import AsyncPool, _wrapped
from tests.inventory.test_fast_reserve import _seed

RESERVE = "/v1/reservations"


@pytest.fixture
def pg(
    postgres_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Database, Settings]]:
    # the directory stays fresh however slow the machine: after each app's first request
    # (which learns the ids on the general path) every one goes to the loop
    monkeypatch.setattr(catalog, "DIRECTORY_TTL_SECONDS", 3600.0)
    db = Database(postgres_url)
    settings = Settings(
        database_url=postgres_url, var_dir=tmp_path, log_json=False, availability_warm_skus=0
    )
    try:
        yield db, settings
    finally:
        db.dispose()


def _body(qty: int = 1) -> dict[str, Any]:
    return {"lines": [{"sku": "P-1", "qty": qty, "location": "LJ-A"}]}


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Where each lean statement ran: its thread, its loop, its pool."""
    seen: list[dict[str, Any]] = []
    real = lean.reserve_async

    async def spy(db: Database, pool: AsyncPool, req: Any, ids: Any) -> Any:
        seen.append(
            {
                "thread": threading.current_thread(),
                "loop": asyncio.get_running_loop(),
                "pool": pool,
            }
        )
        return await real(db, pool, req, ids)

    monkeypatch.setattr(lean, "reserve_async", spy)
    return seen


def test_the_statement_runs_on_the_reservation_loop_and_stops_with_the_app(
    pg: tuple[Database, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings = pg
    key = _seed(db)["shop"]
    seen = _spy(monkeypatch)
    request_threads = set()
    for round_ in range(2):  # the second: the process started again
        app = create_app(settings)
        state = app.state.sincro
        with TestClient(app) as client:
            for n in range(3):
                r = client.post(
                    RESERVE,
                    json=_body(),
                    headers={"X-API-Key": key, "Idempotency-Key": f"loop-{round_}-{n}"},
                )
                assert r.status_code == 201, r.text
            request_threads.add(client.portal.call(threading.current_thread))  # type: ignore[union-attr]
            runner = state.services[runtime.RESERVER]
            pool = state.services[runtime.POOL]
            assert pool.opened >= 1
        # stopped: the thread ended, its connections closed, nothing left behind
        assert not runner.thread.is_alive() and runner.loop.is_closed()
        assert runtime.RESERVER not in state.services and runtime.POOL not in state.services
        assert pool._idle == []
    # the general path learns the ids on a process's first request; the rest went to the loop
    assert len(seen) >= 4
    threads = {s["thread"] for s in seen}
    assert {t.name for t in threads} == {"sincro-inventory.reservation_loop"}
    assert threads.isdisjoint(request_threads)
    loops, pools = {id(s["loop"]) for s in seen}, {id(s["pool"]) for s in seen}
    assert len(loops) == 2 and len(pools) == 2  # one per app, each pool on its loop
    assert all(s["pool"].loop is s["loop"] for s in seen)


def test_answers_and_errors_from_the_loop_keep_their_statuses(
    pg: tuple[Database, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings = pg
    key = _seed(db)["shop"]
    app = create_app(settings)
    headers = {"X-API-Key": key}
    with TestClient(app) as client:
        assert client.post(RESERVE, json=_body(), headers=headers).status_code == 201
        r = client.post(RESERVE, json=_body(qty=10_000), headers=headers)  # on the loop
        assert (r.status_code, r.json()["error"]["code"]) == (409, "insufficient_stock")
        keyed = {**headers, "Idempotency-Key": "same"}
        first = client.post(RESERVE, json=_body(), headers=keyed)
        again = client.post(RESERVE, json=_body(), headers=keyed)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        other = client.post(RESERVE, json=_body(qty=2), headers=keyed)
        assert (other.status_code, other.json()["error"]["code"]) == (
            422,
            "idempotency_key_reused",
        )

        failures = {
            "broken": _wrapped(psycopg.OperationalError("server closed the connection"), True),
            "no free connection": sa_exc.TimeoutError("no free database connection"),
        }
        for failure in failures.values():

            async def fail(*_: Any, failure: Exception = failure) -> None:
                assert threading.current_thread().name == "sincro-inventory.reservation_loop"
                raise failure

            monkeypatch.setattr(lean, "reserve_async", fail)
            r = client.post(RESERVE, json=_body(), headers=headers)
            assert (r.status_code, r.json()["error"]["code"]) == (503, "database_unavailable")
            assert "retry-after" in r.headers
