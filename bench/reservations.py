"""Reservation storm: ``buyers`` concurrent buyers (asyncio + httpx, one client and connection
each) on ``hot`` SKUs holding ``units`` units each at one location. Every buyer reserves one
unit of a random hot SKU, again and again, until every hot SKU is sold out (a 409
``insufficient_stock`` tells a buyer that SKU is gone).

Pass: exactly hot x units reservations succeed, every hot level ends with reserved == units and
available == 0 (no oversell), and ``sincro inventory verify`` exits 0 (levels equal the ledger,
reserved equals the active holds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import time
from typing import Any

import httpx

from bench.harness import ApiServer, CpuMeter, latency_summary_ms, log, preflight


async def _set_stock(client: httpx.AsyncClient, location: str, sku: str, units: int) -> None:
    r = await client.put(
        f"/v1/stock/{location}/{sku}",
        json={"on_hand": units, "safety_stock": 0},
        headers={"If-Match": "*"},
    )
    r.raise_for_status()


async def _level(client: httpx.AsyncClient, location: str, sku: str) -> dict[str, Any]:
    r = await client.get(f"/v1/stock/{location}/{sku}")
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


async def _storm(
    base_url: str,
    key: str,
    skus: list[str],
    location: str,
    buyers: int,
    seed: int,
    timeout: float,
) -> dict[str, Any]:
    remaining = set(skus)
    successes: list[tuple[str, float]] = []
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    sold_out_at: dict[str, float] = {}
    start = asyncio.Event()
    tls = ssl.create_default_context()  # plain http; one shared context keeps 500 clients cheap
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            headers={"X-API-Key": key},
            timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            verify=tls,
        )
        for _ in range(buyers)
    ]

    async def buyer(client: httpx.AsyncClient, rng: random.Random) -> None:
        await start.wait()
        while remaining:
            sku = rng.choice(sorted(remaining))
            body = {"lines": [{"sku": sku, "qty": 1, "location": location}], "ttl_seconds": 3600}
            sent = time.perf_counter()
            try:
                r = await client.post("/v1/reservations", json=body)
            except httpx.HTTPError as exc:
                statuses["transport_error"] = statuses.get("transport_error", 0) + 1
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            now = time.perf_counter()
            code = str(r.status_code)
            statuses[code] = statuses.get(code, 0) + 1
            if r.status_code == 201:
                successes.append((sku, now))
                latencies.append(now - sent)
            elif r.status_code == 409 and r.json().get("error", {}).get("code") == (
                "insufficient_stock"
            ):
                if sku in remaining:
                    remaining.discard(sku)
                    sold_out_at[sku] = now
            else:
                failures.append(f"{r.status_code}: {r.text[:200]}")
                if len(failures) > 1000:
                    remaining.clear()  # give up: something is badly wrong

    rngs = [random.Random(seed * 100_003 + i) for i in range(buyers)]
    tasks = [asyncio.create_task(buyer(c, g)) for c, g in zip(clients, rngs, strict=True)]
    await asyncio.sleep(0.1)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    t_end = time.perf_counter()
    await asyncio.gather(*(c.aclose() for c in clients))
    last_success = max((t for _, t in successes), default=t0)
    return {
        "t0": t0,
        "wall_seconds": round(t_end - t0, 3),
        "seconds_to_last_success": round(last_success - t0, 3),
        "successes": len(successes),
        "per_sku": {sku: sum(1 for s, _ in successes if s == sku) for sku in skus},
        "status_counts": statuses,
        "failures_sample": failures[:10],
        "latency_201": latency_summary_ms(latencies),
    }


async def _run(
    base_url: str, key: str, skus: list[str], location: str, units: int, buyers: int, seed: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": key}, timeout=60
    ) as admin:
        for sku in skus:
            await _set_stock(admin, location, sku, units)
        before = {sku: await _level(admin, location, sku) for sku in skus}
        bad = {s: lv for s, lv in before.items() if lv["available"] != units or lv["reserved"]}
        if bad:
            raise RuntimeError(f"hot levels not ready: {bad}")
        storm = await _storm(base_url, key, skus, location, buyers, seed, timeout=60)
        after = {sku: await _level(admin, location, sku) for sku in skus}
    storm["levels_after"] = {
        sku: {k: lv[k] for k in ("on_hand", "reserved", "available", "version")}
        for sku, lv in after.items()
    }
    storm["oversold_skus"] = [
        s for s, lv in after.items() if lv["reserved"] > units or storm["per_sku"][s] > units
    ]
    storm["levels_ok"] = all(
        lv["reserved"] == units and lv["available"] == 0 for lv in after.values()
    )
    return storm


def run(
    server: ApiServer,
    key: str,
    skus: list[str],
    location: str,
    *,
    hot: int = 20,
    units: int = 100,
    buyers: int = 500,
    settle: float = 10,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    rng = rng or random.Random()
    hot_skus = sorted(rng.sample(skus, hot))
    note = preflight("reservation storm", set(server.pids()), settle)
    log(f"reservation storm: {buyers} buyers, {hot} SKUs x {units} units at {location}")
    with CpuMeter(server, "self") as meter:
        storm = asyncio.run(
            _run(server.base_url, key, hot_skus, location, units, buyers, rng.randrange(1 << 30))
        )
    started = time.perf_counter()
    verify = server.cli("inventory", "verify", timeout=1800)
    verify_seconds = time.perf_counter() - started
    expected = hot * units
    rate = storm["successes"] / storm["seconds_to_last_success"] if storm["successes"] else 0.0
    result = {
        "buyers": buyers,
        "hot_skus": hot_skus,
        "location": location,
        "units_per_sku": units,
        "expected_successes": expected,
        **{k: v for k, v in storm.items() if k != "t0"},
        "reservations_per_second": round(rate, 1),
        "verify_exit_code": verify.returncode,
        "verify_output": (verify.stdout + verify.stderr)[-600:],
        "verify_seconds": round(verify_seconds, 1),
        "cpu": meter.result(),
        "preflight": note,
        "command": (
            f"{buyers} asyncio tasks, one httpx.AsyncClient each: POST /v1/reservations"
            f" {{lines: [{{sku: <random hot SKU>, qty: 1, location: {location}}}]}} until sold"
            f" out; then GET /v1/stock/{location}/<sku> and `sincro inventory verify`"
        ),
    }
    log(
        f"  {storm['successes']}/{expected} reserved in {storm['seconds_to_last_success']} s"
        f" ({result['reservations_per_second']}/s), levels ok {storm['levels_ok']},"
        f" verify exit {verify.returncode}"
    )
    return result


def main() -> None:
    from bench.harness import fresh_database, list_skus, list_stores

    parser = argparse.ArgumentParser(description="Reservation storm alone")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--products", type=int, default=1000)
    args = parser.parse_args()
    with (
        fresh_database(args.db, stores=args.stores, products=args.products) as db,
        ApiServer(db.url, workers=args.workers) as server,
    ):
        key = server.create_key()
        out = run(
            server,
            key,
            list_skus(db.url),
            list_stores(db.url)[0],
            buyers=args.buyers,
            rng=random.Random(2),
        )
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
