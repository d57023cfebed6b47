"""Webhook dispatch on PostgreSQL runs when there is something to deliver, not every second:
beat sends it after outbox commits (``sincro.beat``) and a run that leaves work behind asks
for the next one. With the safety poll at 30 s, a committed change still reaches the receiver
in about a second — through real ``sincro beat`` and ``sincro worker`` processes on RabbitMQ."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sincro import beat
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.events import AvailabilityChange, record_events
from sincro.feed import webhooks
from sincro.feed.schedule import DISPATCH_TASK, beat_entries
from sincro.worker import broker_reachable
from tests.feed.conftest import (
    Receiver,
    change_stock,
    one_sku_and_admin,
    wait_for,
    wake_requests,
)
from tests.services import AMQP_URL, absent


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite keeps the one-second poll (nothing to LISTEN on)."""
    return postgres_url


@pytest.fixture
def admin(db: Database, settings: Settings) -> str:
    return one_sku_and_admin(db, settings)


def subscribe(settings: Settings, receiver: Receiver, admin: str) -> int:
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/webhooks", json={"url": receiver.url()}, headers={"X-API-Key": admin})
    assert r.status_code == 201, r.text
    receiver.secrets["/hook"] = r.json()["secret"]
    return int(r.json()["id"])


def test_the_schedule_polls_slowly_and_wakes_on_commits(settings: Settings) -> None:
    entry = beat_entries(settings)["dispatch-webhooks"]
    assert entry["schedule"] == settings.feed_webhook_safety_poll_seconds == 30.0
    assert entry["wake"] == beat.Wake(gap=settings.feed_webhook_dispatch_seconds, on_events=True)
    sqlite = settings.model_copy(update={"database_url": "sqlite:///x.db"})
    assert beat_entries(sqlite)["dispatch-webhooks"] == {"task": DISPATCH_TASK, "schedule": 1.0}


def test_an_idle_run_asks_for_nothing_and_a_failure_asks_for_its_retry(
    db: Database, settings: Settings, receiver: Receiver, admin: str
) -> None:
    subscribe(settings, receiver, admin)
    with wake_requests(db.url) as idle:
        assert webhooks.dispatch_all(db, settings) == 0  # nothing new since the subscription
    assert idle == []
    receiver.fail_next = 1
    change_stock(db, ("CEL-1", "LJ-A", 2))
    with wake_requests(db.url) as failed:
        assert webhooks.dispatch_all(db, settings) == 0
    # one failure: back off between 1 and 2 s, asked for in the transaction that records it
    [payload] = failed
    task, delay = payload.split()
    assert task == DISPATCH_TASK and 0.5 <= float(delay) <= 2.0


def test_a_run_held_at_a_hole_asks_again(
    db: Database, settings: Settings, receiver: Receiver, admin: str
) -> None:
    subscribe(settings, receiver, admin)
    webhooks.dispatch_all(db, settings)
    with db.write() as late:  # draws the next number and stays open: a hole for the readers
        record_events(late, [AvailabilityChange("CEL-1", "LJ-A", 9, 9, 0, 9, "receipt")])
        after = change_stock(db, ("CEL-1", "LJ-A", 3))  # committed behind the hole
        with wake_requests(db.url) as held:
            assert webhooks.dispatch_all(db, settings) == 0  # the hole is waited for
        assert held == [f"{DISPATCH_TASK} 0.000"]
        late.rollback()
    assert after and receiver.delivered_seqs() == []


@pytest.fixture
def amqp_url() -> Iterator[str]:
    if not broker_reachable(AMQP_URL):
        absent("RabbitMQ", f"no broker at {AMQP_URL}")
    from tests.fleet.cluster import rabbitmq_vhost

    with rabbitmq_vhost() as url:
        yield url


def test_real_beat_and_worker_deliver_a_commit_in_about_a_second(
    db: Database,
    settings: Settings,
    receiver: Receiver,
    admin: str,
    amqp_url: str,
    tmp_path: Path,
) -> None:
    subscribe(settings, receiver, admin)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SINCRO_DATABASE_URL": db.url,
        "SINCRO_BROKER_URL": amqp_url,
        "SINCRO_VAR_DIR": str(tmp_path),
        "SINCRO_LOG_JSON": "false",
        "SINCRO_FEED_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "SINCRO_FEED_WEBHOOK_SAFETY_POLL_SECONDS": "30",  # the poll cannot explain a delivery
        "SINCRO_WORKER_NICE": "0",
        "SINCRO_HEALTH_HEARTBEAT_SECONDS": "0",
    }
    run = [sys.executable, "-m", "sincro.cli"]
    commands = {
        "worker": [*run, "worker", "-Q", "events", "--concurrency", "1"],
        "beat": [*run, "beat"],
    }
    procs = {
        name: subprocess.Popen(
            argv,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{name}.err").open("wb"),
        )
        for name, argv in commands.items()
    }
    try:
        # the first delivery waits for both processes to start
        first = change_stock(db, ("CEL-1", "LJ-A", 2))
        wait_for(lambda: receiver.delivered_seqs() == first, timeout=90, what="the first")
        time.sleep(1.5)  # past the gap of the last send
        waits = []
        for quantity in (3, 4):
            committed = time.monotonic()
            expected = receiver.delivered_seqs() + change_stock(db, ("CEL-1", "LJ-A", quantity))
            wait_for(lambda e=expected: receiver.delivered_seqs() == e, timeout=10, what="one")
            waits.append(time.monotonic() - committed)
            time.sleep(1.5)
        assert max(waits) < 2.5, waits  # well under a second when quiet; the poll is 30 s
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    for name in procs:
        err = (tmp_path / f"{name}.err").read_text()
        assert "Traceback" not in err, err
    assert "wake-ups on PostgreSQL" in (tmp_path / "beat.err").read_text()
