"""Beat that costs little while idle (``sincro.beat``): gates decide whether a due entry is
sent; the waker sends woken tasks after outbox commits and on request, once per gap. And the
worker's pool processes inherit what tasks import instead of importing it at their first run."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from sincro import beat
from sincro.beat import Lingering, Scheduler, Wake, Waker, split_entries
from sincro.config import Settings, reset_settings
from sincro.db import Database
from sincro.events import AvailabilityChange, record_events
from sincro.outbox_notify import CHANNEL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_split_entries_keeps_celery_s_keys_and_collects_gates_and_wakes() -> None:
    def gate(db: Database, settings: Settings) -> bool:
        return True

    wake = Wake(gap=1.0, on_events=True)
    celery, gates, wakes = split_entries(
        {
            "a": {"task": "t.a", "schedule": 5.0, "gate": gate},
            "b": {"task": "t.b", "schedule": 30.0, "wake": wake, "options": {"expires": 9}},
            "c": {"task": "t.c", "schedule": 60.0},
        }
    )
    assert celery == {
        "a": {"task": "t.a", "schedule": 5.0},
        "b": {"task": "t.b", "schedule": 30.0, "options": {"expires": 9}},
        "c": {"task": "t.c", "schedule": 60.0},
    }
    assert gates == {"a": gate} and wakes == {"t.b": wake}


def test_the_waker_sends_once_per_gap_whatever_the_burst() -> None:
    clock, sent = Clock(), []
    waker = Waker("unused", {"t.w": Wake(gap=1.0, on_events=True)}, sent.append, clock)
    assert waker.send_due() is None and sent == []
    for _ in range(50):  # a burst of commits
        waker.notified(CHANNEL, "")
    assert waker.send_due() is None and sent == ["t.w"]
    clock.now += 0.3
    waker.notified(CHANNEL, "")  # too soon after the last send: kept for the gap's end
    assert waker.send_due() == pytest.approx(1001.0) and sent == ["t.w"]
    clock.now += 0.7
    assert waker.send_due() is None and sent == ["t.w", "t.w"]


def test_the_waker_serves_requests_at_their_time_and_ignores_strangers() -> None:
    clock, sent = Clock(), []
    wakes = {"t.on": Wake(gap=1.0, on_events=True), "t.ask": Wake(gap=2.0)}
    waker = Waker("unused", wakes, sent.append, clock)
    waker.notified(beat.WAKE_CHANNEL, "t.ask 4.5")
    waker.notified(beat.WAKE_CHANNEL, "t.ask 9")  # later than one already wanted: no change
    waker.notified(beat.WAKE_CHANNEL, "t.other 0")  # not a woken task
    waker.notified(beat.WAKE_CHANNEL, "t.ask soon")  # unreadable: logged, ignored
    waker.notified(CHANNEL, "")  # outbox commits wake only the on_events entries
    assert waker.send_due() == pytest.approx(1004.5) and sent == ["t.on"]
    clock.now += 4.5
    assert waker.send_due() is None and sent == ["t.on", "t.ask"]
    waker.notified(beat.WAKE_CHANNEL, "t.ask")  # no delay: as soon as the gap allows
    assert waker.send_due() == pytest.approx(1006.5)


def test_a_failed_send_is_logged_and_the_waker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(task: str) -> None:
        raise ConnectionError("broker away")

    waker = Waker("unused", {"t.w": Wake(gap=1.0, on_events=True)}, refuse, Clock())
    waker.notified(CHANNEL, "")
    assert waker.send_due() is None and waker.sent == 0
    assert "could not send t.w" in caplog.text


def test_a_lingering_gate_stays_open_a_while_after_the_work() -> None:
    clock, work = Clock(), [True]
    gate = Lingering(lambda db, settings: work[0], 60.0, clock)
    db: Any = None
    settings: Any = None
    assert gate(db, settings)
    work[0] = False
    clock.now += 59
    assert gate(db, settings)
    clock.now += 2
    assert not gate(db, settings)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """``db`` here is PostgreSQL: LISTEN/NOTIFY (the gates' test uses SQLite directly)."""
    return postgres_url


def _commit_an_event(db: Database) -> None:
    with db.write() as session:
        record_events(session, [AvailabilityChange("W-1", "LJ1", 3, 3, 0, 1, "receipt")])


def test_on_postgresql_commits_and_requests_wake_the_waker(db: Database) -> None:
    sent: list[tuple[str, float]] = []
    got = threading.Event()

    def send(task: str) -> None:
        sent.append((task, time.monotonic()))
        got.set()

    wakes = {"t.on": Wake(gap=0.2, on_events=True), "t.ask": Wake(gap=0.2)}
    waker = Waker(db.url, wakes, send)
    waker.start()
    try:
        assert waker.listening.wait(10)
        time.sleep(0.5)  # the send made on LISTEN (what committed meanwhile) is out of the way
        sent.clear()
        got.clear()
        committed = time.monotonic()
        _commit_an_event(db)  # this process's notifier sends NOTIFY after the commit
        assert got.wait(5)
        assert sent[0][0] == "t.on" and sent[0][1] - committed < 1.0
        got.clear()
        with db.write() as session:
            beat.request(session, "t.ask", 0.3)
            asked = time.monotonic()
        assert got.wait(5)
        assert sent[-1][0] == "t.ask" and 0.25 <= sent[-1][1] - asked < 1.5
    finally:
        waker.stop()


def test_requests_are_a_no_op_on_sqlite(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        with db.write() as session:
            beat.request(session, "t.ask", 1.0)  # nothing to notify through: nothing happens
    finally:
        db.dispose()


@pytest.fixture
def beat_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Celery:
    monkeypatch.setenv("SINCRO_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    app = Celery("beat-test", broker="memory://")
    app.conf.beat_schedule = {}
    return app


def test_the_scheduler_sends_a_gated_entry_only_when_its_gate_opens(
    beat_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"work": False}

    def gate(db: Database, settings: Settings) -> bool:
        if answers["work"] is None:
            raise RuntimeError("database away")
        return answers["work"]

    entries = {
        "gated": {"task": "t.gated", "schedule": 5.0, "gate": gate},
        "plain": {"task": "t.plain", "schedule": 5.0},
    }
    monkeypatch.setattr("sincro.worker.beat_schedule", lambda settings: entries)
    beat_app.conf.beat_schedule = split_entries(entries)[0]
    scheduler = Scheduler(app=beat_app, schedule_filename=str(tmp_path / "schedule"))
    sent: list[str] = []
    monkeypatch.setattr(scheduler, "apply_async", lambda entry, **_: sent.append(entry.task))
    try:
        assert scheduler.waker is None  # nothing woken here (and SQLite has no LISTEN)
        scheduler.apply_entry(scheduler.schedule["gated"])
        scheduler.apply_entry(scheduler.schedule["plain"])
        assert sent == ["t.plain"]
        answers["work"] = True
        scheduler.apply_entry(scheduler.schedule["gated"])
        answers["work"] = None  # a failing gate sends: the task reports what is wrong
        scheduler.apply_entry(scheduler.schedule["gated"])
        assert sent == ["t.plain", "t.gated", "t.gated"]
    finally:
        scheduler.close()


def test_the_worker_imports_what_tasks_import_before_its_pool_forks() -> None:
    """What a periodic task imports inside its function (``sincro.ops.service`` for the health
    check, ``sincro.feed.webhooks`` for the dispatch) is found in the task modules' source and
    imported by the parent at ``worker_init``, so pool processes share it."""
    from sincro.worker import _import_before_fork, imported_inside_tasks

    names = imported_inside_tasks()
    expected = {"sincro.ops.service", "sincro.feed.webhooks", "sincro.connectors.orchestrator"}
    assert expected <= set(names) and all(name.startswith("sincro.") for name in names)
    _import_before_fork()
    assert all(name in sys.modules for name in names)
