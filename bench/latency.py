"""Change latency: ``POST /v1/movements`` accepted -> the matching event received on
``GET /v1/events/stream`` (Server-Sent Events).

``subscribers`` SSE connections stay open (each lands on whichever api worker accepts it), and
every movement is posted on a fresh connection (so it too lands on a random worker): the
figures cover both the same-worker path (woken at commit) and the cross-worker path (the other
worker's outbox poll). An event matches a movement by (sku, location, version). Latency is
measured from the moment the POST's response arrived ("accepted"); the time from sending the
POST is recorded too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from typing import Any

import httpx

from bench.harness import ApiServer, CpuMeter, latency_summary_ms, log, preflight


async def _subscriber(
    base_url: str,
    key: str,
    sku: str,
    arrivals: dict[tuple[str, str, int], float],
    ready: asyncio.Event,
) -> None:
    headers = {"X-API-Key": key, "Accept": "text/event-stream"}
    timeout = httpx.Timeout(10, read=None)
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout) as client,
        client.stream("GET", "/v1/events/stream", params={"sku": sku}) as response,
    ):
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("data:"):
                now = time.perf_counter()
                event = json.loads(line[5:])
                arrivals.setdefault((event["sku"], event["location"], event["version"]), now)


async def _run(
    base_url: str,
    key: str,
    sku: str,
    location: str,
    count: int,
    subscribers: int,
    gap: float,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as admin:
        r = await admin.put(
            f"/v1/stock/{location}/{sku}",
            json={"on_hand": 1000, "safety_stock": 0},
            headers={"If-Match": "*"},
        )
        r.raise_for_status()
    arrivals: list[dict[tuple[str, str, int], float]] = [{} for _ in range(subscribers)]
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [
        asyncio.create_task(_subscriber(base_url, key, sku, arrivals[i], readies[i]))
        for i in range(subscribers)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 30)
    await asyncio.sleep(0.5)
    posts: list[tuple[tuple[str, str, int], float, float]] = []
    failures: list[str] = []
    fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection (random worker) each
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=30, limits=fresh
    ) as poster:
        for i in range(count):
            quantity, reason = (1, "receipt") if i % 2 == 0 else (-1, "adjustment")
            body = {
                "movements": [
                    {"sku": sku, "location": location, "quantity": quantity, "reason": reason}
                ]
            }
            sent = time.perf_counter()
            r = await poster.post(
                "/v1/movements", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
            )
            accepted = time.perf_counter()
            if r.status_code >= 300:
                failures.append(f"{r.status_code}: {r.text[:200]}")
                continue
            level = r.json()["levels"][0]
            posts.append(((level["sku"], level["location"], level["version"]), sent, accepted))
            await asyncio.sleep(rng.uniform(0, 2 * gap))
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if all(p[0] in arr for p in posts for arr in arrivals):
            break
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    from_accepted, from_sent, worst_from_accepted = [], [], []
    missing = 0
    for match, sent, accepted in posts:
        worst = None
        for arr in arrivals:
            if match not in arr:
                missing += 1
                continue
            from_accepted.append(arr[match] - accepted)
            from_sent.append(arr[match] - sent)
            worst = arr[match] - accepted if worst is None else max(worst, arr[match] - accepted)
        if worst is not None:
            worst_from_accepted.append(worst)
    negative = sum(1 for v in from_accepted if v < 0)
    return {
        "movements": count,
        "accepted": len(posts),
        "failures_sample": failures[:10],
        "subscribers": subscribers,
        "samples": len(from_accepted),
        "missing_events": missing,
        "events_before_response": negative,
        # an event that arrives before the POST's response counts as 0 ms after acceptance
        "from_accepted": latency_summary_ms([max(0.0, v) for v in from_accepted]),
        "from_sent": latency_summary_ms(from_sent),
        "all_subscribers_from_accepted": latency_summary_ms(
            [max(0.0, v) for v in worst_from_accepted]
        ),
    }


def run(
    server: ApiServer,
    key: str,
    sku: str,
    location: str,
    *,
    count: int = 300,
    subscribers: int = 4,
    gap: float = 0.02,
    settle: float = 10,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    rng = rng or random.Random()
    note = preflight("change latency", set(server.pids()), settle)
    log(f"change latency: {count} movements on {sku}@{location}, {subscribers} SSE subscribers")
    with CpuMeter(server, "self") as meter:
        out = asyncio.run(
            _run(
                server.base_url,
                key,
                sku,
                location,
                count,
                subscribers,
                gap,
                rng.randrange(1 << 30),
            )
        )
    out.update(
        sku=sku,
        location=location,
        cpu=meter.result(),
        preflight=note,
        command=(
            f"{subscribers} x GET /v1/events/stream?sku={sku} (SSE) open; {count} x POST"
            f" /v1/movements (+1 receipt / -1 adjustment alternately, new connection each,"
            f" Idempotency-Key, 0-{2 * gap * 1000:.0f} ms apart); match on (sku, location,"
            " version)"
        ),
    )
    fa = out["from_accepted"]
    log(
        f"  p50 {fa.get('p50_ms')} ms, p99 {fa.get('p99_ms')} ms, max {fa.get('max_ms')} ms"
        f" over {out['samples']} samples, missing {out['missing_events']}"
    )
    return out


def main() -> None:
    from bench.harness import fresh_database, list_skus, list_stores

    parser = argparse.ArgumentParser(description="Change latency alone")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--count", type=int, default=300)
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
            list_skus(db.url)[-1],
            list_stores(db.url)[-1],
            count=args.count,
            rng=random.Random(3),
        )
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
