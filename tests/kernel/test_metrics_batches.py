"""Samples counted in the process and written to Prometheus in batches (:mod:`sincro.metrics`):
what a scrape shows is what writing every sample at once would have shown, in one process and
in multiprocess mode, with nothing lost to threads, and written within a second of a quiet
spell by the api's lifespan."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

from sincro import metrics
from sincro.app import create_app
from sincro.config import Settings

# on the bounds, just past them, zero, past the last bound, and a sum that is not a round figure
SECONDS = [0.0, 0.001, 0.0010001, 0.0025, 0.004, 0.05, 0.3, 1.0, 2.4999, 5.0, 7.5, 61.0] * 3


def _samples(registry: CollectorRegistry, route: str) -> dict[str, float]:
    """The latency histogram's samples of one route, by sample name and ``le`` (no
    ``_created``: when a child was made is not a sample the batches write)."""
    out = {}
    for family in registry.collect():
        if family.name != "sincro_http_request_duration_seconds":
            continue
        for s in family.samples:
            if s.labels.get("route") == route and not s.name.endswith("_created"):
                out[f"{s.name}{s.labels.get('le', '')}"] = s.value
    return out


def _histogram(route: str) -> dict[str, float]:
    return _samples(REGISTRY, route)


def _assert_as_observed(written: dict[str, float]) -> None:
    """``written`` is what one histogram observing every one of ``SECONDS`` shows."""
    expected = _reference(SECONDS)
    assert written.keys() == expected.keys()
    for name, value in expected.items():
        assert abs(written[name] - value) < 1e-9, name


def _reference(seconds: list[float]) -> dict[str, float]:
    """The same samples observed one by one by a histogram of the same buckets."""
    registry = CollectorRegistry()
    reference = Histogram(
        "sincro_http_request_duration_seconds",
        "reference",
        ["method", "route", "status"],
        buckets=metrics.LATENCY_BUCKETS,
        registry=registry,
    )
    child = reference.labels("GET", "r", "200")
    for value in seconds:
        child.observe(value)
    return _samples(registry, "r")


def test_a_batch_writes_what_observing_each_sample_would() -> None:
    route = f"/batched/{uuid.uuid4().hex}"
    metrics.flush()  # the next flush is a second away: the samples below wait for it
    for value in SECONDS:
        metrics.observe_request("GET", route, 200, value)
    assert _histogram(route)["sincro_http_request_duration_seconds_count"] == 0  # not written yet
    metrics.flush()
    written = _histogram(route)
    _assert_as_observed(written)
    assert written["sincro_http_request_duration_seconds_count"] == len(SECONDS)


def test_threads_lose_no_sample() -> None:
    route = f"/threads/{uuid.uuid4().hex}"
    counter = Counter(
        f"sincro_test_batched_{uuid.uuid4().hex[:8]}", "test", ["kind"], registry=None
    )
    count = metrics.counted(counter.labels("a"))
    assert metrics.counted(counter.labels("a")) is count  # one batch per child

    def work() -> None:
        for i in range(5_000):
            count.inc()
            metrics.observe_request("GET", route, 200, 0.002)
            if i % 1_000 == 0:
                metrics.flush()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics.flush()
    assert counter.labels("a")._value.get() == 30_000
    assert _histogram(route)["sincro_http_request_duration_seconds_count"] == 30_000
    assert _histogram(route)["sincro_http_request_duration_seconds_bucket0.0025"] == 30_000


CHILD = """
import sys
from sincro import metrics
for value in [float(v) for v in sys.argv[1].split(",")]:
    metrics.observe_request("GET", "/mp", 200, value)
metrics.flush()
"""


def test_multiprocess_files_sum_the_batches_of_every_process(tmp_path: Path) -> None:
    """As ``sincro api --workers 2`` runs: two processes write their batches to their own
    files; the collector's sum is what one histogram observing every sample shows."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    halves = [SECONDS[::2], SECONDS[1::2]]
    for half in halves:
        subprocess.run(
            [sys.executable, "-c", CHILD, ",".join(map(repr, half))], env=env, check=True
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    _assert_as_observed(_samples(registry, "/mp"))


def test_the_api_writes_a_quiet_spell_s_samples_within_a_second(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        labels = {"method": "GET", "route": "/health", "status": "200"}
        name = "sincro_http_request_duration_seconds_count"
        metrics.flush()
        before = REGISTRY.get_sample_value(name, labels) or 0.0
        assert client.get("/health").status_code == 200
        assert (REGISTRY.get_sample_value(name, labels) or 0.0) == before  # not yet written
        deadline = time.monotonic() + metrics.FLUSH_SECONDS + 2.0
        while (REGISTRY.get_sample_value(name, labels) or 0.0) == before:
            assert time.monotonic() < deadline, "the lifespan did not write the sample"
            time.sleep(0.05)
        assert REGISTRY.get_sample_value(name, labels) == before + 1


def test_a_forked_child_does_not_write_its_parent_s_samples() -> None:
    route = f"/fork/{uuid.uuid4().hex}"
    metrics.flush()
    metrics.observe_request("GET", route, 200, 0.002)  # counted in the parent, not yet written
    pid = os.fork()
    if pid == 0:  # the child: write whatever it holds, and report what it held
        held = sum(p.n for p in metrics._latencies.values())
        metrics.flush()
        os._exit(0 if held == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    metrics.flush()
    assert _histogram(route)["sincro_http_request_duration_seconds_count"] == 1
