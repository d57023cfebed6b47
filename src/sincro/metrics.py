"""Kernel Prometheus metrics (``GET /metrics``) and the ASGI middleware timing every request.

Domains define their own metrics in ``<domain>/metrics.py`` (declared in their ``domain.py``).

With several api worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (``sincro serve`` does) so
every process writes its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess as prom_multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REQUEST_LATENCY = Histogram(
    "sincro_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "sincro_task_queue_wait_seconds",
    "Seconds a task waited in its queue before a worker started it (queue lag)",
    ["queue"],
    buckets=(0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)
QUEUE_DEPTH = Gauge(
    "sincro_queue_depth", "Messages waiting in a worker queue", ["queue"], multiprocess_mode="max"
)


def render() -> tuple[bytes, str]:
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): records latency per route template and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if template != "/v1/events/stream":
                observe_request(scope["method"], template, status[0], time.perf_counter() - start)


# Samples of every request, counted in the process and written to Prometheus in batches.
#
# In multiprocess mode every ``inc``/``observe`` of prometheus_client takes a lock and writes
# into a memory-mapped file: a histogram sample is two such writes, a counter one, ~3.8 µs of
# the ~14 µs a cached availability read costs the api in all (``bench.availability_cpu``). So
# the request latency histogram and the hot paths' counters (:func:`counted`) are counted here
# in plain Python, and written at most every ``FLUSH_SECONDS``: by the next request past that
# time, by a scrape before it renders (:func:`render`), and by the api's lifespan each second
# (the last second of traffic before a quiet spell). A scrape sees every sample of the process
# that renders it, and other processes' samples at most ``FLUSH_SECONDS`` late.
FLUSH_SECONDS = 1.0
# the histogram's upper bounds, +Inf last as prometheus_client adds it: a sample belongs to
# the first bound at or above it, as ``Histogram.observe`` places it
_BOUNDS = (*LATENCY_BUCKETS, math.inf)
_lock = threading.Lock()
_flush_at = [0.0]


class _Latency:
    """One latency child's samples since the last flush: a count per bucket, and their sum."""

    __slots__ = ("buckets", "child", "n", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.reset()

    def reset(self) -> None:
        self.buckets = [0] * len(_BOUNDS)
        self.n, self.total = 0, 0.0


class Count:
    """A counter child counted in the process (see above): ``inc`` as the child's own."""

    __slots__ = ("child", "n")

    def __init__(self, child: Any) -> None:
        self.child, self.n = child, 0

    def inc(self) -> None:
        with _lock:
            self.n += 1


_latencies: dict[tuple[str, str, int], _Latency] = {}
_counts: dict[int, Count] = {}  # by the child's id (the child is kept in the Count)


def _forked() -> None:
    """A forked child starts with nothing counted: its parent writes its own samples (the
    child writes to files of its own, :mod:`sincro.promvalues`), and a lock held in the
    parent at the fork would never be released in the child."""
    global _lock
    _lock = threading.Lock()
    for pending in _latencies.values():
        pending.reset()
    for count in _counts.values():
        count.n = 0


os.register_at_fork(after_in_child=_forked)


def counted(child: Any) -> Count:
    """The batched counter of a Prometheus counter child (one for each child)."""
    with _lock:
        count = _counts.get(id(child))
        if count is None:
            count = _counts[id(child)] = Count(child)
        return count


def decisions(counter: Any) -> tuple[Count, Count]:
    """A fast route's batched ``answered`` and ``handed_over`` children of its decision
    counter (``sincro_*_fast_path_total``)."""
    return counted(counter.labels("answered")), counted(counter.labels("handed_over"))


def observe_request(method: str, template: str, status: int, seconds: float) -> None:
    """One request's latency (the middleware's, and fast routes' that answer before it)."""
    key = (method, template, status)
    bucket = bisect_left(_BOUNDS, seconds)
    with _lock:
        pending = _latencies.get(key)
        if pending is None:
            child = REQUEST_LATENCY.labels(method, template, str(status))
            pending = _latencies[key] = _Latency(child)
        pending.buckets[bucket] += 1
        pending.n += 1
        pending.total += seconds
    if time.monotonic() >= _flush_at[0]:
        flush()


def flush() -> None:
    """Write the samples counted in this process since the last flush to Prometheus."""
    with _lock:
        _flush_at[0] = time.monotonic() + FLUSH_SECONDS
        latencies = []
        for pending in _latencies.values():
            if pending.n:
                latencies.append((pending.child, pending.buckets, pending.total))
                pending.reset()
        counts = []
        for count in _counts.values():
            if count.n:
                counts.append((count.child, count.n))
                count.n = 0
    for child, buckets, total in latencies:  # what ``observe`` writes, a batch at a time
        child._sum.inc(total)
        for bucket, n in enumerate(buckets):
            if n:
                child._buckets[bucket].inc(n)
    for child, n in counts:
        child.inc(n)


async def flush_every_second() -> None:
    """Flush while the api runs (its lifespan's task): a quiet process's last samples too."""
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        flush()
