"""Kernel Prometheus metrics (``GET /metrics``) and the ASGI middleware timing every request.

Domains define their own metrics in ``<domain>/metrics.py`` (declared in their ``domain.py``).

With several api worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (``sincro serve`` does) so
every process writes its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess as prom_multiprocess,
)

REQUEST_LATENCY = Histogram(
    "sincro_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
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


# the latency histogram's child per (method, route, status), looked up once: ``labels()``
# takes a lock and builds its key on every call (a few routes and statuses: a small dict)
_latency_children: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, template: str, status: int, seconds: float) -> None:
    """One request's latency (the middleware's, and fast routes' that answer before it)."""
    key = (method, template, status)
    child = _latency_children.get(key)
    if child is None:
        child = _latency_children[key] = REQUEST_LATENCY.labels(method, template, str(status))
    child.observe(seconds)
