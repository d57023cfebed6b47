"""The api with its shared state in Redis (the production shape) under many concurrent
requests, with Redis away, and an unexpected error: never a bare 500, never one unlogged.

Found by the saturation bench (PostgreSQL, Redis, ``wrk -c256``): about a tenth of the reads
answered 500, and nothing was logged. redis-py's default pool refuses at once past 100
connections of one client (``MaxConnectionsError``), and every request whose key had run out
of prepaid tokens took a lease of its own on its own connection; the api worker processes
had no logging set up, so the 500's traceback went nowhere.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.fastroutes import FastRoute, FastRoutesApp
from tests.factories import make_key, make_location, make_product, receive
from tests.faultproxy import FaultProxy
from tests.inventory.test_fast_read import _call
from tests.services import REDIS_URL

pytestmark = pytest.mark.one_database  # what is checked is Redis and the app, not the SQL

SKU = "RD-1"
CONCURRENT = 300  # per key, all at once: more than redis-py's default pool of 100


def _settings(settings: Settings, redis_url: str, prefix: str, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"redis_url": redis_url, "redis_prefix": prefix, "log_json": False, **extra}
    )


def _seed(db: Database, **limits: int | None) -> dict[str, str]:
    with db.write() as s:
        make_location(s, code="CD-1", kind="dc", ships_online=True)
        make_product(s, sku=SKU)
        receive(s, SKU, "CD-1", 5)
    with db.write() as s:
        return {name: make_key(s, Role.channel, rate_limit=limit) for name, limit in limits.items()}


def _headers(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-api-key", key.encode())]


def test_concurrent_reads_on_a_small_redis_pool_wait_for_it_and_spend_leases_once(
    db: Database, settings: Settings, redis_prefix: str
) -> None:
    """300 requests at once for each of three keys, through the real app (fast route and
    rate limiter) on a pool of 2 Redis connections: each answers 200 or, past its key's limit,
    429; none 500. A key of 3,000/min (leases of 60) gets all 300: the requests that ran out
    together share one lease instead of each taking (and wasting) one."""
    limits = {"high": None, "leased": 3_000, "single": 90}  # leases of 200, 60 and 1
    keys = _seed(db, **limits)
    small = _settings(
        settings, REDIS_URL, redis_prefix, redis_max_connections=2, redis_pool_wait_seconds=60
    )
    app = create_app(small)

    async def scenario() -> tuple[dict[str, collections.Counter[int]], float]:
        async with app.router.lifespan_context(app):
            for key in keys.values():  # authenticated and loaded by the documented route
                status, _, body = await _call(app, f"/v1/availability/{SKU}", _headers(key))
                assert status == 200, body
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    _call(app, f"/v1/availability/{SKU}", _headers(key))
                    for _ in range(CONCURRENT)
                    for key in keys.values()
                )
            )
            elapsed = time.monotonic() - started
        counts: dict[str, collections.Counter[int]] = {name: collections.Counter() for name in keys}
        for i, (status, _, body) in enumerate(answers):
            name = list(keys)[i % len(keys)]
            counts[name][status] += 1
            if status not in (200, 429):
                raise AssertionError(f"{name}: {status} {body!r}")
        return counts, elapsed

    counts, elapsed = asyncio.run(scenario())
    assert counts["high"] == {200: CONCURRENT}
    assert counts["leased"] == {200: CONCURRENT}, "leases taken at once wasted the allowance"
    # 90 a minute: 89 left after the first request, plus what refilled during the burst
    allowed = counts["single"][200]
    assert 89 <= allowed <= 89 + int(elapsed * 90 / 60) + 1, counts["single"]
    assert counts["single"][429] == CONCURRENT - allowed


@pytest.fixture
def redis_proxy() -> Iterator[FaultProxy]:
    proxy = FaultProxy(("127.0.0.1", 6379))
    try:
        yield proxy
    finally:
        proxy.close()


def test_redis_away_answers_503_on_both_routes_and_logs_why(
    db: Database,
    settings: Settings,
    redis_prefix: str,
    redis_proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = _seed(db, shop=60)  # leases of one token: every request asks Redis
    url = REDIS_URL.replace("127.0.0.1:6379", f"127.0.0.1:{redis_proxy.port}")
    app = create_app(_settings(settings, url, redis_prefix))
    summary, all_rows = f"/v1/availability/{SKU}", f"/v1/availability/{SKU}?all=true"

    async def scenario() -> list[tuple[int, dict[bytes, bytes], bytes]]:
        async with app.router.lifespan_context(app):
            status, _, body = await _call(app, summary, _headers(keys["shop"]))
            assert status == 200, body  # the key and the snapshot are in this process now
            redis_proxy.set_mode("refuse")
            answers = [
                await _call(app, path, _headers(keys["shop"]))  # fast route, documented route
                for path in (summary, all_rows)
            ]
            redis_proxy.set_mode("forward")
            answers.append(await _call(app, summary, _headers(keys["shop"])))
        return [(status, dict(headers), body) for status, headers, body in answers]

    with caplog.at_level(logging.WARNING, logger="sincro.errors"):
        fast, documented, back = asyncio.run(scenario())
    for status, headers, body in (fast, documented):
        assert status == 503, body
        assert headers[b"retry-after"].isdigit()
        error = orjson.loads(body)["error"]
        assert error["code"] == "shared_state_unavailable"
        assert "Redis" in error["message"]
    assert back[0] == 200, back  # Redis is back: so are the reads
    logged = [r for r in caplog.records if "shared_state_unavailable" in r.getMessage()]
    assert len(logged) == 2 and all("ConnectionError" in r.getMessage() for r in logged)


def test_an_unexpected_error_on_a_fast_route_is_a_logged_500(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    assert isinstance(app, FastRoutesApp)

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug in a fast route")

    app.fast_routes[("GET", "/v1/broken")] = FastRoute("GET", "/v1/broken", broken)

    async def scenario() -> tuple[int, Any, bytes]:
        async with app.router.lifespan_context(app):
            return await _call(app, "/v1/broken", [])

    with caplog.at_level(logging.ERROR, logger="sincro.errors"):
        status, _, body = asyncio.run(scenario())
    assert status == 500
    assert orjson.loads(body) == {
        "error": {"code": "internal_error", "message": "unexpected server error"}
    }
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and "a bug in a fast route" in str(record.exc_info[1])
    assert "GET /v1/broken" in record.getMessage()


def test_api_worker_processes_log_as_json_on_stderr(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """``sincro api --workers 2``: uvicorn spawns the workers, which inherit no logging; what
    they log (here the warning of a 503 with Redis refusing, and the event loop each serves
    on, ``SINCRO_API_LOOP``) must reach stderr as JSON."""
    with db.write() as s:
        make_product(s, sku=SKU)
        key = make_key(s, Role.channel)
    port, nothing_listens = _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")},
        "SINCRO_DATABASE_URL": settings.database_url,
        "SINCRO_VAR_DIR": str(tmp_path),
        "SINCRO_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "SINCRO_REDIS_URL": f"redis://127.0.0.1:{nothing_listens}/0",
        "SINCRO_AVAILABILITY_WARM_SKUS": "0",
        "SINCRO_LOG_JSON": "true",
        "SINCRO_API_LOOP": "asyncio",
    }
    api = [sys.executable, "-m", "sincro.cli", "api", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(api, env=env, stderr=subprocess.PIPE, start_new_session=True)
    try:
        status = _get_when_up(f"http://127.0.0.1:{port}/v1/availability/{SKU}", key, proc)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert status == 503
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    warned = [line for line in lines if line["logger"] == "sincro.errors"]
    assert warned and "shared_state_unavailable" in warned[0]["message"], stderr[-3000:]
    assert warned[0]["level"] == "WARNING"
    loops = [line.get("event_loop") for line in lines if line["logger"] == "sincro.app"]
    assert loops == ["asyncio", "asyncio"], stderr[-3000:]  # each worker, on the chosen loop


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_when_up(url: str, key: str, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the api exited"
        try:
            return httpx.get(url, headers={"X-API-Key": key}, timeout=30).status_code
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("the api did not answer within 120 s")
