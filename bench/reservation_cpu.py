"""CPU per reservation, in process: the api's ASGI application driven directly, no HTTP server.

The storm benchmark (:mod:`bench.reservation_storm`) measures the whole machine: uvicorn, wrk,
PostgreSQL and whatever else runs on the two cores. Its throughput moves with the machine's
load; its CPU per reservation less so, but still. This harness answers one question without
that noise: **how many microseconds of the api process's CPU does one reservation cost** on
the fast route, from the ASGI call to the last byte handed to the server.

A fresh database with a small demo operator; ``--hot`` SKUs with enough units at one store;
the app built by :func:`sincro.app.create_app` as ``sincro api`` builds it (settings from the
environment, the availability warm-up off, metrics in multiprocess mode as with 2 workers);
its lifespan started; then ``--concurrency`` tasks on one event loop (uvloop, as uvicorn
runs) send one-unit reservations round-robin over the hot SKUs, each with its own
``Idempotency-Key``, exactly as the storm's wrk script does. After ``--warm`` requests (first
requests authenticate the key and learn ids), ``--requests`` are timed: process CPU
(user and system time of every thread of the process, the reservation threads included) and
wall time. The same for the floor (``POST /health``, 405 through the middleware stack).
``--pyspy DIR`` samples the timed phase with py-spy (``--gil``: where the Python CPU goes).

What it leaves out: uvicorn's HTTP parsing and socket writes (the same for every request, the
floor's share of them), and the database's own CPU (another process).

    python -m bench.reservation_cpu --db postgresql [--requests 20000 --concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import (
    AsgiClient as Client,
    emit,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
)

PYSPY = Path(sys.executable).parent / "py-spy"


async def _phase(
    client: Client, n: int, concurrency: int, make: Any
) -> tuple[Counter[int], tuple[float, float], float]:
    """``n`` requests from ``concurrency`` tasks: statuses, (user, system) CPU seconds of the
    process, wall seconds."""
    counter = itertools.count()
    statuses: Counter[int] = Counter()

    async def one_task() -> None:
        while (i := next(counter)) < n:
            status, _ = await client.request(*make(i))
            statuses[status] += 1

    before, wall = os.times(), time.perf_counter()
    await asyncio.gather(*(one_task() for _ in range(concurrency)))
    after = os.times()
    user, system = after.user - before.user, after.system - before.system
    return statuses, (user, system), time.perf_counter() - wall


def _spy(where: Path, name: str, seconds: float) -> subprocess.Popen[bytes]:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(PYSPY),
            "record",
            "--pid",
            str(os.getpid()),
            "--duration",
            str(int(seconds) + 1),
            "--rate",
            "500",
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
            "--output",
            str(where / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _stock(
    client: Client, auth: dict[str, str], store: str, skus: list[str], units: int
) -> None:
    """After the app started: wait for the assistant's classifier, which trains at start
    (else its CPU lands in the measurement), then set ``units`` on hand, no safety stock, of
    each of ``skus`` at ``store`` through the API."""
    for thread in threading.enumerate():
        if thread.name == "sincro-assistant-train":
            await asyncio.to_thread(thread.join)
    for sku in skus:
        status, body = await client.request(
            "PUT",
            f"/v1/stock/{store}/{sku}",
            {**auth, "if-match": "*"},
            json.dumps({"on_hand": units, "safety_stock": 0}).encode(),
        )
        if status != 200:
            raise RuntimeError(f"setting the stock of {sku}: {status} {body[:300]!r}")


async def _measure(
    app: Any, key: str, skus: list[str], store: str, args: argparse.Namespace
) -> dict[str, Any]:
    client = Client(app)
    auth = {"x-api-key": key, "content-type": "application/json"}

    async with app.router.lifespan_context(app):
        await _stock(client, auth, store, skus, args.units)
        bodies = [
            json.dumps(
                {"lines": [{"sku": sku, "qty": 1, "location": store}], "ttl_seconds": 3600},
                separators=(",", ":"),
            ).encode()
            for sku in skus
        ]
        run = itertools.count()

        def reservation(i: int) -> tuple[str, str, dict[str, str], bytes]:
            headers = {**auth, "idempotency-key": f"cpu-{next(run)}"}
            return "POST", "/v1/reservations", headers, bodies[i % len(bodies)]

        def floor(_i: int) -> tuple[str, str, dict[str, str], bytes]:
            return "POST", "/health", auth, b"{}"

        out: dict[str, Any] = {}
        for name, make, n in (
            ("reservation", reservation, args.requests),
            ("floor_post", floor, args.floor_requests),
        ):
            await _phase(client, args.warm, args.concurrency, make)
            spy = None
            if args.pyspy:  # the timed phase only; started a moment ahead
                spy = _spy(args.pyspy, name, args.pyspy_seconds)
                await asyncio.sleep(1.0)
            statuses, (user, system), wall = await _phase(client, n, args.concurrency, make)
            cpu = user + system
            if spy is not None:
                spy.wait(timeout=120)
            out[name] = {
                "requests": n,
                "statuses": dict(statuses),
                "cpu_seconds": round(cpu, 3),
                "user_us_per_request": round(user / n * 1e6, 1),
                "system_us_per_request": round(system / n * 1e6, 1),
                "wall_seconds": round(wall, 3),
                "cpu_us_per_request": round(cpu / n * 1e6, 1),
                # None when the run was too short for the clock's resolution (os.times ticks)
                "requests_per_second_of_one_core": round(n / cpu, 1) if cpu > 0 else None,
            }
            log(f"  {name}: {out[name]['cpu_us_per_request']} us CPU a request, {dict(statuses)}")
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description="api CPU per reservation, in process")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--floor-requests", type=int, default=20_000)
    parser.add_argument("--warm", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--fast", choices=["on", "off"], default="on")
    parser.add_argument("--single-process-metrics", action="store_true")
    parser.add_argument("--pyspy", type=Path, help="py-spy the timed phases into this folder")
    parser.add_argument("--pyspy-seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.units = (args.requests + 2 * args.warm) // args.hot + 10
    var = Path(tempfile.mkdtemp(prefix="sincro-cpu-"))
    if not args.single_process_metrics:  # as ``sincro api --workers 2`` runs
        (var / "prometheus").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var / "prometheus")
    with fresh_database(args.db, stores=args.stores, products=args.products) as db:
        os.environ.update(
            SINCRO_DATABASE_URL=db.url,
            SINCRO_VAR_DIR=str(var),
            SINCRO_AVAILABILITY_WARM_SKUS="0",
            SINCRO_INVENTORY_FAST_RESERVE="true" if args.fast == "on" else "false",
        )
        import uvloop

        from sincro.access import service as access
        from sincro.access.models import Role
        from sincro.app import create_app
        from sincro.db import reset_databases

        app = create_app()
        state = app.state.sincro
        with state.db.write() as session:
            _, key = access.create_key(session, "bench", Role.admin, (), 100_000_000)
        skus = list_skus(db.url)[: args.hot]
        store = list_stores(db.url)[0]
        log(
            f"{args.db}: {args.requests} reservations, {args.concurrency} at a time,"
            f" fast route {args.fast}"
        )
        try:
            result = uvloop.run(_measure(app, key, skus, store, args))
        finally:
            reset_databases()
        result.update(
            database=args.db,
            fast_route=args.fast,
            concurrency=args.concurrency,
            commit=machine_info()["git_commit"],
            loadavg_after=os.getloadavg(),
            command=" ".join(["python -m bench.reservation_cpu", *sys.argv[1:]]),
        )
        emit(result, args.out)


if __name__ == "__main__":
    main()
