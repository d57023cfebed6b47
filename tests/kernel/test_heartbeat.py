"""The heartbeat every process reports (sincro.health, sincro.health_store): one row per
process upserted on each beat, its status as time passes, errors kept without personal data,
figures from the process's own Prometheus registry, a database that is away, and queue depths
read from a real RabbitMQ."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select, text

from sincro import health, health_store, text_pt
from sincro.config import Settings
from sincro.db import Database, Timeouts
from sincro.health_store import QueueDepthSample, ServiceHeartbeat
from tests.services import AMQP_URL, absent, port_open

CPF = "123.456.789-09"
EMAIL = "maria.silva@cliente.example"


def rows(db: Database) -> list[ServiceHeartbeat]:
    with db.read() as session:
        return health_store.heartbeats(session)


@pytest.fixture
def figures() -> Iterator[None]:
    """Figures declared by a test are forgotten afterwards."""
    before = dict(health._FIGURES)
    yield
    health._FIGURES.clear()
    health._FIGURES.update(before)


def test_a_beat_upserts_one_row_per_process(db: Database, settings: Settings) -> None:
    beat = health.Heartbeat(settings, "signup", queues=("b", "a"), db=db)
    assert beat.beat()
    [first] = rows(db)
    assert (first.kind, first.instance) == ("signup", f"{socket.gethostname()}:{beat.pid}")
    assert first.queues == ["a", "b"] and first.version and first.stopped_at is None
    time.sleep(0.01)
    assert beat.beat()
    [second] = rows(db)
    assert second.last_seen > first.last_seen
    assert second.started_at == first.started_at
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ServiceHeartbeat)) == 1


def test_status_follows_the_silence(db: Database, settings: Settings) -> None:
    beat = health.Heartbeat(settings, "relay", db=db)  # 10 s beats, down after 60 s
    beat.beat()
    [row] = rows(db)
    seen = row.last_seen

    def status(after: float) -> str:
        return health_store.status_of(row, seen + dt.timedelta(seconds=after), 60)

    assert status(0) == "ok"
    assert status(29.9) == "ok"
    assert status(30.5) == "stale"  # three beats missed
    assert status(59) == "stale"
    assert status(60) == "down"
    beat.beat(stopping=True)
    [row] = rows(db)
    assert health_store.status_of(row, seen + dt.timedelta(hours=1), 60) == "stopped"


def test_errors_are_kept_scrubbed_and_bounded(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"health_errors_kept": 3})
    beat = health.Heartbeat(settings, "worker", db=db)
    beat._attach()
    logger = logging.getLogger("sincro.test.health")
    try:
        logger.warning("a warning is not an error %s", EMAIL)
        logger.error("customer %s wrote from %s", CPF, EMAIL)
        try:
            raise ValueError(f"bad CPF {CPF}")
        except ValueError:
            logger.exception("import failed")
        assert beat.beat()
        [row] = rows(db)
        stored = " ".join(e["message"] for e in row.errors)
        assert [e["level"] for e in row.errors] == ["ERROR", "ERROR"]
        assert CPF not in stored and EMAIL not in stored and "maria" not in stored
        assert stored.count(text_pt.REMOVED) == 3 and "ValueError" in stored
        for n in range(2):
            logger.error("later %d", n)
        logger.error("x" * 400)
        assert beat.beat()
    finally:
        logging.getLogger().removeHandler(beat.capture)
    [row] = rows(db)
    messages = [e["message"] for e in row.errors]
    assert messages[:2] == ["later 0", "later 1"]  # the newest three, oldest first
    assert len(messages[2]) == health.MESSAGE_MAX and messages[2].endswith("…")
    entry = health.error_entry(
        logging.LogRecord("sincro.x", logging.ERROR, __file__, 1, "de %s (%s)", (EMAIL, CPF), None)
    )
    assert CPF not in entry["message"] and EMAIL not in entry["message"]
    assert entry["message"].count(text_pt.REMOVED) == 2
    with pytest.raises(ValueError) as caught:
        raise ValueError(f"bad CPF {CPF}")
    with_exc = logging.LogRecord(
        "sincro.x", logging.ERROR, __file__, 1, "failed", (), (ValueError, caught.value, None)
    )
    text = health.error_entry(with_exc)["message"]
    assert "ValueError" in text and CPF not in text and text_pt.REMOVED in text


def test_figures_come_from_the_process_registry(
    db: Database, settings: Settings, figures: None
) -> None:
    registry = CollectorRegistry()
    sent = Counter("sincro_test_sent_total", "sent", ["outcome"], registry=registry)
    lag = Gauge("sincro_test_lag_seconds", "lag", ["source"], registry=registry)
    wait = Histogram("sincro_test_wait_seconds", "wait", ["queue"], registry=registry)
    health.register_figure("test.sent", "sincro_test_sent_total", "Envios/s", kind="rate")
    health.register_figure(
        "test.failed",
        "sincro_test_sent_total",
        "Falhas/s",
        kind="rate",
        labels={"outcome": "failed"},
    )
    health.register_figure("test.lag", "sincro_test_lag_seconds", "Atraso", combine="max")
    health.register_figure("test.wait", "sincro_test_wait_seconds", "Espera", kind="mean")
    health.register_figure("test.absent", "sincro_not_defined_here", "Ausente")
    beat = health.Heartbeat(settings, "worker", db=db, registry=registry)
    sent.labels("ok").inc(5)
    lag.labels("a").set(12.5)
    lag.labels("b").set(3)
    first = beat.read_figures()
    assert first == {"test.lag": 12.5}  # no rate before a second reading, no made-up zeros
    sent.labels("ok").inc(30)
    sent.labels("failed").inc(10)
    wait.labels("sync").observe(2.0)
    wait.labels("ingest").observe(4.0)
    time.sleep(0.2)
    second = beat.read_figures()
    assert set(second) == {"test.sent", "test.failed", "test.lag", "test.wait"}
    assert 0 < second["test.failed"] < second["test.sent"]
    assert second["test.sent"] == pytest.approx(4 * second["test.failed"], rel=1e-3)
    assert second["test.wait"] == 3.0  # (2 + 4) / 2
    wait.labels("sync").observe(9.0)
    assert beat.read_figures()["test.wait"] == 5.0  # the window's observations: 2, 4, 9
    for key, readings in beat._readings.items():  # a minute passes, nothing happens
        beat._readings[key] = deque(
            (t - health.FIGURE_WINDOW_SECONDS - 1, *v) for t, *v in readings
        )
    later = beat.read_figures()
    assert "test.wait" not in later  # no task in the window: no mean, not a zero
    assert later["test.sent"] == 0.0 and later["test.lag"] == 12.5


def test_the_thread_reports_and_says_goodbye(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"health_heartbeat_seconds": 0.1})
    beat = health.Heartbeat(settings, "watcher", db=db).start()
    try:
        deadline = time.monotonic() + 5
        while not rows(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        [row] = rows(db)
        assert row.kind == "watcher" and row.stopped_at is None
    finally:
        beat.stop()
    [row] = rows(db)
    assert row.stopped_at is not None
    assert beat._thread is not None and not beat._thread.is_alive()


def test_start_heartbeat_once_per_process_and_off_at_zero(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    try:
        first = health.start_heartbeat(settings, "signup", db=db)
        assert first is not None
        assert health.start_heartbeat(settings, "signup", db=db) is first
        # another database in this process (a test's own app): the first reporter gives way
        other = Database(f"sqlite:///{tmp_path / 'other.db'}")
        second = health.start_heartbeat(settings, "signup", db=other)
        assert second is not None and second is not first and second.db is other
        assert first._stopped and health.current_heartbeat() is second
    finally:
        health.stop_heartbeat()
    assert health.current_heartbeat() is None
    off = settings.model_copy(update={"health_heartbeat_seconds": 0})
    assert health.start_heartbeat(off, "signup", db=db) is None


def test_a_database_away_skips_beats_and_logs_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    away = Database(
        f"postgresql://postgres@127.0.0.1:{port}/nothing",
        pool_size=1,
        timeouts=Timeouts(connect=1.0, statement=1.0, long_statement=1.0),
    )
    beat = health.Heartbeat(settings, "beat", db=away)
    try:
        with caplog.at_level(logging.WARNING, logger="sincro.health"):
            started = time.monotonic()
            assert beat.beat() is False
            assert beat.beat() is False
            assert time.monotonic() - started < 10
        skipped = [r for r in caplog.records if "heartbeat" in r.getMessage()]
        assert len(skipped) == 1 and skipped[0].levelno == logging.WARNING
        beat.start()
        beat.stop(wait=5)  # returns although no beat can be written
        assert beat._thread is not None and not beat._thread.is_alive()
    finally:
        away.dispose()


@pytest.mark.rabbitmq
def test_queue_depths_from_a_real_rabbitmq() -> None:
    from kombu import Connection, Exchange, Producer, Queue

    from sincro.worker import queue_depths

    if not port_open("127.0.0.1", 5672):
        absent("RabbitMQ", "port 5672 closed")
    busy, missing, after = (f"sincro_health_test_{uuid.uuid4().hex[:8]}_{n}" for n in range(3))
    with Connection(AMQP_URL, connect_timeout=3) as conn:
        channel: Any = conn.channel()
        queues = [
            Queue(name, Exchange(""), routing_key=name, auto_delete=False) for name in (busy, after)
        ]
        try:
            for queue in queues:
                queue(channel).declare()
            producer = Producer(channel, exchange=Exchange(""))
            for n in range(7):
                producer.publish({"n": n}, routing_key=busy)
            producer.publish({"n": 0}, routing_key=after)
            deadline = time.monotonic() + 5
            depths: dict[str, int] = {}
            while time.monotonic() < deadline:
                # the missing queue in the middle closes the channel; the next still reads
                depths = queue_depths(AMQP_URL, [busy, missing, after])
                if depths[busy] == 7:
                    break
                time.sleep(0.1)
            assert depths == {busy: 7, missing: 0, after: 1}
        finally:
            for queue in queues:
                queue(channel).delete()
            channel.close()


def test_the_beat_samples_queue_depths(db: Database, settings: Settings) -> None:
    from kombu import Connection

    from sincro.worker import queues

    with Connection(settings.broker_url) as conn:  # the embedded broker (SQLAlchemy transport)
        waiting = conn.SimpleQueue("default")
        for n in range(3):
            waiting.put({"n": n})
        waiting.close()
    sampler = health.queue_sampler(settings)
    sampler.run(db)
    with db.read() as session:
        samples = {s.queue: s.depth for s in session.scalars(select(QueueDepthSample))}
    assert set(samples) == set(queues())
    assert samples["default"] == 3
    assert all(depth == 0 for queue, depth in samples.items() if queue != "default")


@pytest.mark.postgres
def test_a_forked_child_reports_itself_and_leaves_the_parents_connection_alone(
    postgres_url: str, tmp_path: Any
) -> None:
    """A worker pool process forked after its node started reporting: the child drops the
    inherited reporter without closing its connection (psycopg would end the parent's
    session on the shared socket) and reports under its own pid, naming its parent."""
    settings = Settings(database_url=postgres_url, var_dir=tmp_path, health_heartbeat_seconds=60)
    db = Database(postgres_url)
    try:
        parent = health.start_heartbeat(settings, "worker", queues=("sync",))
        assert parent is not None
        deadline = time.monotonic() + 10
        while not any(r.pid == parent.pid for r in rows(db)):  # its connection is now open
            assert time.monotonic() < deadline
            time.sleep(0.05)
        backend = backend_pid(parent.db)
        pid = os.fork()
        if pid == 0:  # the child: report once, then leave without running any cleanup
            code = 1
            try:
                child = health.start_heartbeat(
                    settings, "worker", queues=("sync",), parent=parent.instance
                )
                code = 0 if child is not None and child is not parent and child.beat() else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert parent.beat()
        assert backend_pid(parent.db) == backend  # the same session: the child did not end it
        by_pid = {r.pid: r for r in rows(db)}
        assert by_pid[pid].parent == parent.instance and by_pid[pid].kind == "worker"
    finally:
        health.stop_heartbeat()
        db.dispose()


def backend_pid(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_queue_wait_counts_from_when_a_task_may_start() -> None:
    """The publish stamp is the task's eta when it has one (a countdown or a retry's backoff
    is no queue lag), and a retry is stamped again."""
    from sincro.worker import SENT_AT, _stamp_sent_at

    headers: dict[str, Any] = {}
    before = time.time()
    _stamp_sent_at(headers=headers)
    assert before <= headers[SENT_AT] <= time.time()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    retried = {SENT_AT: 1.0, "eta": later.isoformat()}
    _stamp_sent_at(headers=retried)
    assert retried[SENT_AT] == pytest.approx(later.timestamp())
    _stamp_sent_at(headers={"eta": "not a date"})  # ignored, not raised
