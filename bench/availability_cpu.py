"""CPU per availability read, in process: the api's ASGI application driven directly, no HTTP
server, for each read shape of the mixed flash-sale load (:mod:`bench.flash_mixed`).

A fresh database with the demo operator (``--stores`` x ``--products``, the flash-sale bench's
catalogue by default); the app built by :func:`sincro.app.create_app` as ``sincro api``
builds it (settings from the environment, metrics in multiprocess mode as with 2 workers);
its lifespan started and every SKU read once (the cache warm, as the flash bench's warm-up
leaves it). Then, per shape, ``--requests`` requests of random SKUs (and stores), timed as
process CPU (user and system time of every thread):

* ``bare``: the bare ASGI floor of the saturation run (:data:`bench.baselines.bare_app`, no
  application): what driving a request costs here, to subtract from the others;
* ``floor``: ``GET /health``, the same headers;
* ``summary``: ``GET /v1/availability/{sku}``;
* ``store``: ``GET /v1/availability/{sku}?location={store}``;
* ``flash_reads``: the flash bench's read mix, a quarter of them with ``?location=``;
* ``summary_after_change`` and ``store_after_change``: each read after a stock event for its
  SKU (the change feed's patch of the snapshot, as a reservation's event does), patch
  included: what a read of a hot SKU costs during the sale;
* ``summary_reload``: ``--reloads`` reads each of a SKU just dropped from the cache (a miss:
  the snapshot loaded from the database, what a refresh at the TTL costs too).

``--pyspy DIR`` samples each timed phase with py-spy (raw folded stacks, ``--gil``);
``--cprofile DIR`` writes a cProfile of each instead.

What it leaves out: uvicorn's HTTP parsing and socket writes (the same for every request, the
floor's share of them).

    python -m bench.availability_cpu --db postgresql [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baselines import bare_app
from bench.harness import (
    AsgiClient,
    emit,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
)
from bench.reservation_cpu import _spy

Make = Callable[[int], str]


async def _phase(
    client: AsgiClient, key: str, n: int, make: Make, before: Callable[[int], None] | None
) -> tuple[Counter[int], float, float, float]:
    """``n`` requests one after another: statuses, user and system CPU seconds, wall."""
    headers = {"x-api-key": key}
    statuses: Counter[int] = Counter()
    start, wall = os.times(), time.perf_counter()
    for i in range(n):
        if before is not None:
            before(i)
        status, _ = await client.request("GET", make(i), headers)
        statuses[status] += 1
    end = os.times()
    return statuses, end.user - start.user, end.system - start.system, time.perf_counter() - wall


def _stock_event(cache: Any, sku: str, store: str, seq: list[int]) -> Callable[[int], None]:
    """A callable applying one new-version event of ``sku`` at ``store`` to the cache."""
    snap = cache.peek(sku) or cache.get(sku)
    place = snap.directory.by_code[store]

    def apply(_i: int) -> None:
        seq[0] += 1
        version = snap.version[place.position] + 1
        cache.apply_events(
            [
                {
                    "seq": seq[0],
                    "sku": sku,
                    "location": store,
                    "available": version % 7,
                    "on_hand": version % 7,
                    "reserved": 0,
                    "version": version,
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ]
        )

    return apply


async def _measure(app: Any, key: str, skus: list[str], stores: list[str], args: Any) -> Any:
    from sincro.inventory.runtime import availability_cache

    client = AsgiClient(app)
    clients = {"bare": AsgiClient(bare_app)}  # a phase driven past the application
    rng = random.Random(12)
    cache = availability_cache(app.state.sincro)
    async with app.router.lifespan_context(app):
        for thread in threading.enumerate():  # the assistant's classifier trains at start
            if thread.name == "sincro-assistant-train":
                await asyncio.to_thread(thread.join)
        for sku in skus:  # warm: every snapshot loaded, as the flash bench's warm-up
            path = f"/v1/availability/{sku}"
            status, body = await client.request("GET", path, {"x-api-key": key})
            if status != 200:
                raise RuntimeError(f"reading {sku}: {status} {body[:300]!r}")
        n = args.requests
        picks = [rng.choice(skus) for _ in range(n)]
        places = [rng.choice(stores) for _ in range(n)]
        located = [rng.random() < args.location_share for _ in range(n)]
        hot_sku, hot_store = skus[0], stores[0]
        seq = [10**12]  # past any real event
        change = _stock_event(cache, hot_sku, hot_store, seq)
        phases: dict[str, tuple[Make, Callable[[int], None] | None]] = {
            "bare": (lambda i: "/bare", None),
            "floor": (lambda i: "/health", None),
            "summary": (lambda i: f"/v1/availability/{picks[i]}", None),
            "store": (lambda i: f"/v1/availability/{picks[i]}?location={places[i]}", None),
            "flash_reads": (
                lambda i: (
                    f"/v1/availability/{picks[i]}"
                    + (f"?location={places[i]}" if located[i] else "")
                ),
                None,
            ),
            "summary_after_change": (lambda i: f"/v1/availability/{hot_sku}", change),
            "store_after_change": (
                lambda i: f"/v1/availability/{hot_sku}?location={hot_store}",
                change,
            ),
            "summary_reload": (
                lambda i: f"/v1/availability/{picks[i]}",
                lambda i: cache.forget([picks[i]]),
            ),
        }
        out: dict[str, Any] = {}
        for name, (make, before) in phases.items():
            if args.only and name not in args.only:
                continue
            n = args.reloads if name == "summary_reload" else args.requests
            driver = clients.get(name, client)
            await _phase(driver, key, min(n, args.warm), make, before)
            spy = profile = None
            if args.pyspy:
                spy = _spy(args.pyspy, name, args.pyspy_seconds)
                await asyncio.sleep(1.0)
            if args.cprofile:
                profile = cProfile.Profile()
                profile.enable()
            statuses, user, system, wall = await _phase(driver, key, n, make, before)
            if profile is not None:
                profile.disable()
                args.cprofile.mkdir(parents=True, exist_ok=True)
                profile.dump_stats(str(args.cprofile / f"{name}.prof"))
            if spy is not None:
                spy.wait(timeout=120)
            cpu = user + system
            out[name] = {
                "requests": n,
                "statuses": dict(statuses),
                "cpu_us_per_request": round(cpu / n * 1e6, 1),
                "user_us_per_request": round(user / n * 1e6, 1),
                "system_us_per_request": round(system / n * 1e6, 1),
                "wall_seconds": round(wall, 3),
            }
            log(f"  {name}: {out[name]['cpu_us_per_request']} us CPU a request, {dict(statuses)}")
        out["cache"] = vars(cache.stats)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description="api CPU per availability read, in process")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warm", type=int, default=2_000)
    parser.add_argument("--reloads", type=int, default=300)
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--location-share", type=float, default=0.25)
    parser.add_argument("--fast", choices=["on", "off"], default="on")
    parser.add_argument("--only", nargs="*", help="phases to run (default: all)")
    parser.add_argument("--single-process-metrics", action="store_true")
    parser.add_argument("--pyspy", type=Path, help="py-spy the timed phases into this folder")
    parser.add_argument("--pyspy-seconds", type=float, default=8.0)
    parser.add_argument("--cprofile", type=Path, help="cProfile the timed phases here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="sincro-cpu-"))
    if not args.single_process_metrics:  # as ``sincro api --workers 2`` runs
        (var / "prometheus").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var / "prometheus")
    with fresh_database(args.db, stores=args.stores, products=args.products) as db:
        os.environ.update(
            SINCRO_DATABASE_URL=db.url,
            SINCRO_VAR_DIR=str(var),
            SINCRO_AVAILABILITY_WARM_SKUS="0",
            SINCRO_INVENTORY_FAST_READ="true" if args.fast == "on" else "false",
        )
        import uvloop

        from sincro.access import service as access
        from sincro.access.models import Role
        from sincro.app import create_app
        from sincro.db import reset_databases

        app = create_app()
        state = app.state.sincro
        with state.db.write() as session:
            _, key = access.create_key(session, "bench", Role.channel, (), 100_000_000)
        skus, stores = list_skus(db.url), list_stores(db.url)
        log(f"{args.db}: {args.requests} reads a shape, {len(skus)} SKUs x {len(stores)} stores")
        try:
            result = uvloop.run(_measure(app, key, skus, stores, args))
        finally:
            reset_databases()
        result.update(
            database=args.db,
            fast_read=args.fast,
            commit=machine_info()["git_commit"],
            loadavg_after=os.getloadavg(),
            command=" ".join(["python -m bench.availability_cpu", *sys.argv[1:]]),
        )
        emit(result, args.out)


if __name__ == "__main__":
    main()
