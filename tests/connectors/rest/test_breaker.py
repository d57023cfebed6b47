"""Circuit breaker transitions for both stores, including the single half-open probe under
concurrency, and its alerts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from sincro.alerts import Alert
from sincro.connectors.resilience import (
    BreakerOpen,
    CircuitBreaker,
    Permit,
    alert_callbacks,
    breaker_for,
)
from sincro.db import Database
from tests.services import REDIS_URL

OPEN_SECONDS = 0.4


@pytest.fixture(params=["redis", "database"])
def make_breaker(request: pytest.FixtureRequest, db: Database) -> Callable[[str], CircuitBreaker]:
    redis_url = ""
    prefix = "unused:"
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        redis_url = REDIS_URL

    def make(source: str) -> CircuitBreaker:
        return breaker_for(
            redis_url, prefix, db, source, failure_threshold=3, open_seconds=OPEN_SECONDS
        )

    return make


def open_alerts(db: Database, source: str) -> list[Alert]:
    with db.read() as session:
        return list(
            session.scalars(
                select(Alert).where(
                    Alert.source == source,
                    Alert.kind == "breaker_open",
                    Alert.resolved_at.is_(None),
                )
            )
        )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.allow())


def race_for_probe(breaker: CircuitBreaker, threads: int = 12) -> list[Permit]:
    barrier = threading.Barrier(threads)
    won: list[Permit] = []
    refused: list[BreakerOpen] = []

    def attempt() -> None:
        barrier.wait()
        try:
            won.append(breaker.allow())
        except BreakerOpen as exc:
            refused.append(exc)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(won) + len(refused) == threads
    return won


def test_transitions_and_single_probe(
    make_breaker: Callable[[str], CircuitBreaker], db: Database
) -> None:
    breaker = make_breaker("erp-a")
    other = make_breaker("erp-a")  # another worker's view of the same source
    fail(breaker, 2)
    breaker.record_success(breaker.allow())  # a success resets the consecutive count
    fail(breaker, 2)
    assert breaker.snapshot().state == "closed"
    fail(breaker, 1)
    assert other.snapshot().state == "open"
    assert len(open_alerts(db, "erp-a")) == 1
    with pytest.raises(BreakerOpen, match="is open"):
        other.allow()

    time.sleep(OPEN_SECONDS + 0.1)
    winners = race_for_probe(other)
    assert len(winners) == 1 and winners[0].probe
    assert other.snapshot().state == "half_open"
    with pytest.raises(BreakerOpen, match="half_open"):
        breaker.allow()
    other.record_failure(winners[0])  # the probe failed: open again
    assert breaker.snapshot().state == "open"
    assert len(open_alerts(db, "erp-a")) == 1  # still the same open alert

    time.sleep(OPEN_SECONDS + 0.1)
    winners = race_for_probe(breaker)
    assert len(winners) == 1
    breaker.record_success(winners[0])
    assert other.snapshot().state == "closed"
    assert open_alerts(db, "erp-a") == []
    permit = other.allow()
    assert not permit.probe


def test_late_answers_do_not_close_an_open_breaker(
    make_breaker: Callable[[str], CircuitBreaker],
) -> None:
    breaker = make_breaker("erp-b")
    early = breaker.allow()  # a call that started while closed and answers late
    fail(breaker, 3)
    breaker.record_success(early)
    assert breaker.snapshot().state == "open"


def test_alert_callbacks_are_idempotent(db: Database) -> None:
    opened, closed = alert_callbacks(db)
    from sincro.connectors.resilience import BreakerSnapshot

    snap = BreakerSnapshot("open", 3, None)
    opened("erp-c", snap)
    opened("erp-c", snap)
    assert len(open_alerts(db, "erp-c")) == 1
    closed("erp-c", snap)
    assert open_alerts(db, "erp-c") == []
