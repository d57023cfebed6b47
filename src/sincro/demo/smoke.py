"""``sincro demo --smoke``: a scripted end-to-end scenario against the running services.

Movement → availability read → reservation → commit → every change received on the SSE feed.
It creates a short-lived admin key in the database and revokes it at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from rich.console import Console

from sincro.access import service as access
from sincro.access.models import Role
from sincro.db import get_database


class SmokeFailure(Exception):
    pass


def _listen(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    seen: list[dict[str, Any]],
    ready: threading.Event,
    stop: threading.Event,
) -> None:
    with client.stream("GET", url, headers=headers, timeout=None) as response:
        ready.set()
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data: "):
                seen.append(orjson.loads(line[6:]))


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SmokeFailure(f"timed out after {seconds:.0f} s waiting for {what}")


def _ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in expected:
        raise SmokeFailure(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def run_smoke(base_url: str, console: Console) -> bool:
    """Run the scenario; print each step; True when every step passed."""
    with get_database().write() as session:
        key, plaintext = access.create_key(session, f"smoke-{uuid.uuid4().hex[:6]}", Role.admin)
    headers = {"X-API-Key": plaintext}
    stop = threading.Event()
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            _scenario(client, headers, console, stop)
        console.print("[bold green]smoke: all steps passed[/]")
        return True
    except (SmokeFailure, httpx.HTTPError) as exc:
        console.print(f"[bold red]smoke failed against {base_url}:[/] {exc}")
        console.print(
            "is `sincro demo` (or `sincro serve`) running there? Another address: "
            "`sincro demo --smoke --url http://HOST:PORT`, or set SINCRO_HOST / SINCRO_PORT."
        )
        return False
    finally:
        stop.set()
        with get_database().write() as session:
            access.revoke_key(session, key.prefix)


def _scenario(
    client: httpx.Client, headers: dict[str, str], console: Console, stop: threading.Event
) -> None:
    def step(text: str, started: float) -> None:
        console.print(f"[green]✓[/] {text} ({(time.perf_counter() - started) * 1000:.0f} ms)")

    t = time.perf_counter()
    _ok(client.get("/ready"), 200)
    step("api ready: database and broker reachable", t)
    dc = _ok(client.get("/v1/locations", params={"kind": "dc", "limit": 1}, headers=headers), 200)[
        "items"
    ][0]["code"]
    sku = _ok(client.get("/v1/products", params={"limit": 1}, headers=headers), 200)["items"][0][
        "sku"
    ]
    seen: list[dict[str, Any]] = []
    ready = threading.Event()
    listener = threading.Thread(
        target=_listen,
        daemon=True,
        args=(client, f"/v1/events/stream?sku={sku}", headers, seen, ready, stop),
    )
    listener.start()
    _wait(ready.is_set, 5, "the SSE stream to open")
    before = _ok(client.get(f"/v1/availability/{sku}", headers=headers), 200)["online_available"]

    t = time.perf_counter()
    _ok(
        client.post(
            "/v1/movements",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            json={"movements": [{"sku": sku, "location": dc, "quantity": 5, "reason": "receipt"}]},
        ),
        200,
    )
    step(f"movement: +5 {sku} received at {dc}", t)

    t = time.perf_counter()
    _wait(
        lambda: (
            _ok(client.get(f"/v1/availability/{sku}", headers=headers), 200)["online_available"]
            == before + 5
        ),
        5,
        "availability to show the receipt",
    )
    step(f"availability: online {before} → {before + 5}", t)

    t = time.perf_counter()
    reservation = _ok(
        client.post(
            "/v1/reservations",
            headers=headers,
            json={
                "lines": [{"sku": sku, "qty": 2, "location": dc}],
                "ttl_seconds": 120,
                "order_reference": "SMOKE",
            },
        ),
        201,
    )
    step(f"reservation {reservation['id'][:8]}… holds 2 units", t)
    t = time.perf_counter()
    committed = _ok(
        client.post(f"/v1/reservations/{reservation['id']}/commit", headers=headers), 200
    )
    if committed["status"] != "committed":
        raise SmokeFailure(f"commit left status {committed['status']}")
    step("reservation committed: became a sale", t)

    t = time.perf_counter()
    _wait(
        lambda: {"receipt", "reservation", "sale"} <= {e["cause"] for e in seen},
        5,
        "receipt, reservation and sale events on the SSE feed",
    )
    step(f"feed: {len(seen)} events received over SSE", t)
