"""api CPU per request of each kind of the flash-sale mix, and of the mix, in process.

:mod:`bench.flash_mixed` measures the whole machine (uvicorn, wrk, PostgreSQL, whatever else
runs) and only the mix. This harness answers where the mix's CPU goes, without that noise:
the api's ASGI application driven directly (as :mod:`bench.reservation_cpu` does: no HTTP
server, the availability warm-up off, metrics in multiprocess mode), every SKU's snapshot
loaded first, then timed phases of one kind each — availability reads (a quarter with
``?location=``), one-unit reservations of ``--hot`` SKUs at one store, commits, releases — and
then the 90/9/1 mix of :mod:`bench.flash_mixed`. Each phase reports the process's CPU
(every thread's user and system time) per request; the mix's figure against the weighted sum
of the kinds' shows what the kinds cost together that they do not cost apart. The cache's
counters at the end say whether reads reloaded snapshots (misses past the first load).

    python -m bench.mixed_cpu [--requests 10000 --concurrency 64 --pyspy DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.flash_mixed import CLOSE, RESERVE
from bench.harness import (
    AsgiClient,
    emit,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
)
from bench.reservation_cpu import _phase, _spy, _stock

Request = tuple[str, str, dict[str, str], bytes]


class _Client(AsgiClient):
    """Keeps the id of every reservation created, for the commits and releases."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.ids: list[str] = []

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        status, content = await super().request(method, path, headers, body)
        if status == 201:
            self.ids.append(json.loads(content)["id"])
        return status, content


async def _measure(
    app: Any, key: str, skus: list[str], hot: list[str], stores: list[str], args: Any
) -> dict[str, Any]:
    client = _Client(app)
    auth = {"x-api-key": key, "content-type": "application/json"}
    store, rng, run = stores[0], random.Random(12), itertools.count()

    def read_sku(sku: str) -> Request:
        return "GET", f"/v1/availability/{sku}", auth, b""

    def read(_i: int) -> Request:
        path = f"/v1/availability/{skus[rng.randrange(len(skus))]}"
        if rng.random() < 0.25:
            path += f"?location={stores[rng.randrange(len(stores))]}"
        return "GET", path, auth, b""

    def reserve(_i: int) -> Request:
        line = {"sku": hot[rng.randrange(len(hot))], "qty": 1, "location": store}
        body = json.dumps({"lines": [line], "ttl_seconds": 3600}).encode()
        return "POST", "/v1/reservations", {**auth, "idempotency-key": f"m-{next(run)}"}, body

    def close(action: str) -> Callable[[int], Request]:
        return lambda _i: ("POST", f"/v1/reservations/{client.ids.pop()}/{action}", auth, b"")

    def mixed(i: int) -> Request:
        r = rng.random()
        if r < CLOSE and client.ids:
            return close("commit" if rng.random() < 0.5 else "release")(i)
        return reserve(i) if r < CLOSE + RESERVE else read(i)

    async with app.router.lifespan_context(app):
        await _stock(client, auth, store, hot, 10_000_000)
        await _phase(client, len(skus), 16, lambda i: read_sku(skus[i]))  # each loaded once
        await _phase(client, args.warm, args.concurrency, read)
        n = args.requests
        plan = [
            ("read", read, n),
            ("reserve", reserve, n // 5),
            ("commit", close("commit"), n // 40),
            ("release", close("release"), n // 40),
            ("mixed", mixed, n),
        ]
        out: dict[str, Any] = {}
        for name, make, count in plan:
            spy = None
            if args.pyspy:
                spy = _spy(args.pyspy, name, args.pyspy_seconds)
                await asyncio.sleep(1.0)
            statuses, (user, system), wall = await _phase(client, count, args.concurrency, make)
            if spy is not None:
                spy.wait(timeout=120)
            out[name] = {
                "requests": count,
                "statuses": dict(statuses),
                "cpu_us_per_request": round((user + system) / count * 1e6, 1),
                "wall_seconds": round(wall, 2),
            }
            log(f"  {name}: {out[name]}")
        kinds = {k: out[k]["cpu_us_per_request"] for k in ("read", "reserve", "commit", "release")}
        out["mix_of_the_kinds_us"] = round(
            (1 - RESERVE - CLOSE) * kinds["read"]
            + RESERVE * kinds["reserve"]
            + CLOSE / 2 * (kinds["commit"] + kinds["release"]),
            1,
        )
        cache = app.state.sincro.services["inventory.availability"]
        out["availability_cache"] = vars(cache.stats)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description="api CPU per request of each kind of the mix")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--pyspy", type=Path, help="py-spy every timed phase into this folder")
    parser.add_argument("--pyspy-seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="sincro-mixed-cpu-"))
    (var / "prometheus").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var / "prometheus")  # as with 2 workers
    with fresh_database("postgresql", stores=args.stores, products=args.products) as db:
        os.environ.update(
            SINCRO_DATABASE_URL=db.url, SINCRO_VAR_DIR=str(var), SINCRO_AVAILABILITY_WARM_SKUS="0"
        )
        import uvloop

        from sincro.access import service as access
        from sincro.access.models import Role
        from sincro.app import create_app
        from sincro.db import reset_databases

        app = create_app()
        with app.state.sincro.db.write() as session:
            _, key = access.create_key(session, "bench", Role.admin, (), 100_000_000)
        skus, stores = list_skus(db.url), list_stores(db.url)
        hot = sorted(random.Random(12).sample(skus, args.hot))
        try:
            result = uvloop.run(_measure(app, key, skus, hot, stores, args))
        finally:
            reset_databases()
        result.update(
            git_commit=machine_info()["git_commit"],
            loadavg_after=os.getloadavg(),
            command=" ".join(["python -m bench.mixed_cpu", *sys.argv[1:]]),
        )
        emit(result, args.out)


if __name__ == "__main__":
    main()
