"""The fleet's load: reservations and movements through the proxy, each retried with its own
Idempotency-Key on connection errors and 502/503/504 (a proxy never replays a POST), and an
SSE client that records every sequence number it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = {502, 503, 504}
SKUS = ("FLT-1", "FLT-2", "FLT-3", "FLT-4")
LOCATIONS = ("LJ-FLT-A", "LJ-FLT-B")


@dataclass(frozen=True)
class Op:
    """One logical request: its path, body and Idempotency-Key (also its order reference)."""

    key: str
    path: str
    body: dict[str, Any]


@dataclass
class Outcome:
    op: Op
    status: int
    attempts: int
    replayed: bool


def plan(run: str, count: int) -> list[Op]:
    """A fixed mix: two movements per reservation; every tenth reservation lives 1 s (the
    surviving worker's expiry sweep must close them)."""
    ops: list[Op] = []
    for i in range(count):
        sku, location, key = SKUS[i % len(SKUS)], LOCATIONS[i % len(LOCATIONS)], f"{run}-{i:04d}"
        if i % 3 == 2:
            ttl = 1 if i % 30 == 2 else 600
            line = {"sku": sku, "qty": 1, "location": location}
            body = {"lines": [line], "ttl_seconds": ttl, "order_reference": key}
            ops.append(Op(key, "/v1/reservations", body))
        else:
            move = {"sku": sku, "location": location, "quantity": 1 + i % 3, "reason": "receipt"}
            ops.append(Op(key, "/v1/movements", {"movements": [move]}))
    return ops


def send(client: httpx.Client, op: Op, deadline: float) -> Outcome:
    """POST ``op`` until it gets an answer that is not the proxy's (or time runs out)."""
    attempts = 0
    while True:
        attempts += 1
        try:
            response = client.post(op.path, json=op.body, headers={"Idempotency-Key": op.key})
            if response.status_code not in RETRY_STATUSES:
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                return Outcome(op, response.status_code, attempts, replayed)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            return Outcome(op, 0, attempts, False)
        time.sleep(0.05)


def drive(
    base_url: str,
    api_key: str,
    ops: Sequence[Op],
    threads: int,
    on_progress: Callable[[int], None],
    budget: float = 30.0,
) -> list[Outcome]:
    """Run ``ops`` over ``threads`` clients; ``on_progress(done)`` after each one."""
    deadline = time.monotonic() + budget
    local = threading.local()
    done = 0
    lock = threading.Lock()

    def one(op: Op) -> Outcome:
        nonlocal done
        if not hasattr(local, "client"):
            local.client = httpx.Client(
                base_url=base_url, headers={"X-API-Key": api_key}, timeout=10
            )
        outcome = send(local.client, op, deadline)
        with lock:
            done += 1
            count = done
        on_progress(count)
        return outcome

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, ops))


@dataclass
class SseRecorder:
    """Follows ``/v1/events/stream`` on one replica from ``after``; resumes with Last-Event-ID."""

    url: str
    api_key: str
    after: int
    seqs: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> SseRecorder:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            last = self.seqs[-1] if self.seqs else self.after
            headers = {"X-API-Key": self.api_key, "Last-Event-ID": str(last)}
            try:
                with httpx.stream(
                    "GET",
                    f"{self.url}/v1/events/stream",
                    headers=headers,
                    timeout=httpx.Timeout(5, read=3),
                ) as response:
                    self.connected.set()
                    self._read(response)
            except httpx.HTTPError:
                time.sleep(0.1)

    def _read(self, response: httpx.Response) -> None:
        for line in response.iter_lines():
            if line.startswith("id:"):
                self.seqs.append(int(line[3:].strip()))
            if self.stop.is_set():
                return

    def wait_for(self, expected: set[int], timeout: float) -> set[int]:
        """The expected sequence numbers still missing after waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while (missing := expected - set(self.seqs)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return missing

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
