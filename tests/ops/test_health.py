"""One place to watch every service: ``GET /v1/health/services`` (admin keys), the alerts of
silent services and backed-up queues (raised once, resolved when healthy again), and the
pruning of old rows — on both databases."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro import health_store
from sincro.access.service import Role
from sincro.alerts import Alert
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.health_store import QueueDepthSample, ServiceHeartbeat
from sincro.ops import service
from tests.factories import make_key

HOST = "node-a"


def put(
    db: Database,
    pid: int,
    kind: str,
    seen: dt.datetime,
    *,
    started: dt.datetime | None = None,
    queues: tuple[str, ...] = (),
    parent: str | None = None,
    stopped: bool = False,
    errors: list[dict[str, str]] | None = None,
    figures: dict[str, float] | None = None,
    host: str = HOST,
) -> str:
    """A heartbeat row as the process ``host:pid`` would have written it."""
    instance = f"{host}:{pid}"
    with db.write() as session:
        health_store.upsert_heartbeat(
            session,
            {
                "instance": instance,
                "kind": kind,
                "host": host,
                "pid": pid,
                "parent": parent,
                "version": "9.9.9",
                "queues": list(queues),
                "interval_seconds": 10.0,
                "started_at": started or seen - dt.timedelta(hours=1),
                "last_seen": seen,
                "stopped_at": seen if stopped else None,
                "errors": errors or [],
                "figures": figures or {},
            },
        )
    return instance


def samples(db: Database, queue: str, points: list[tuple[dt.datetime, int]]) -> None:
    with db.write() as session:
        for at, depth in points:
            health_store.record_depths(session, {queue: depth}, at)


def open_alerts(db: Database) -> dict[str, Alert]:
    with db.read() as session:
        rows = session.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()
    return {a.dedupe_key or "": a for a in rows}


def check(db: Database, settings: Settings, now: dt.datetime) -> service.CheckResult:
    with db.write() as session:
        return service.check(session, settings, now)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_services_need_an_admin_key(db: Database, client: TestClient) -> None:
    with db.write() as session:
        admin, channel = make_key(session), make_key(session, Role.channel)
    assert client.get("/v1/health/services").status_code == 401
    assert client.get("/v1/health/services", headers={"X-API-Key": "sk_bad_key"}).status_code == 401
    assert client.get("/v1/health/services", headers={"X-API-Key": channel}).status_code == 403
    assert client.get("/v1/health/services", headers={"X-API-Key": admin}).status_code == 200


def own_beat_written(db: Database, timeout: float = 10.0) -> None:
    """Wait for this api process's first beat: its heartbeat thread writes it right after the
    app starts, which on a loaded machine may come after the test's own writes."""
    mine = select(ServiceHeartbeat.instance).where(
        ServiceHeartbeat.pid == os.getpid(), ServiceHeartbeat.kind == "api"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as session:
            if session.scalar(mine):
                return
        time.sleep(0.05)
    raise AssertionError("the api's heartbeat never wrote its row")


def test_services_show_status_errors_queues_and_figures(db: Database, client: TestClient) -> None:
    now = utcnow()
    error = {"at": now.isoformat(), "level": "ERROR", "logger": "sincro.x", "message": "boom"}
    put(db, 1, "worker", now, queues=("sync", "default"), figures={"api.requests": 2.5})
    put(db, 2, "worker", now, parent=f"{HOST}:1", queues=("sync",), figures={"api.requests": 1.0})
    put(db, 3, "beat", now - dt.timedelta(seconds=45), errors=[error])
    put(db, 4, "relay", now - dt.timedelta(minutes=5), figures={"api.requests": 100.0})
    put(db, 5, "watcher", now - dt.timedelta(minutes=5), stopped=True)
    samples(db, "sync", [(now - dt.timedelta(minutes=m), 10 * m) for m in (90, 30, 20, 10)])
    with db.write() as session:
        key = make_key(session)
    own_beat_written(db)
    response = client.get(
        "/v1/health/services", headers={"X-API-Key": key}, params={"history_minutes": 45}
    )
    assert response.status_code == 200
    body = response.json()
    by_instance = {i["instance"]: i for i in body["instances"]}
    statuses = {i: row["status"] for i, row in by_instance.items() if i.startswith(HOST)}
    assert statuses == {
        f"{HOST}:1": "ok",
        f"{HOST}:2": "ok",
        f"{HOST}:3": "stale",
        f"{HOST}:4": "down",
        f"{HOST}:5": "stopped",
    }
    assert by_instance[f"{HOST}:1"]["queues"] == ["sync", "default"]
    assert by_instance[f"{HOST}:2"]["parent"] == f"{HOST}:1"
    assert by_instance[f"{HOST}:3"]["errors"][0]["message"] == "boom"
    # this api process reports itself (its first beat is written at start)
    me = [i for i in body["instances"] if i["kind"] == "api" and i["pid"] == os.getpid()]
    assert len(me) == 1 and me[0]["status"] == "ok"
    # figures: summed over live processes only (the down relay's 100/s is not counted)
    [requests] = [f for f in body["figures"] if f["key"] == "api.requests"]
    assert requests["label"] == "Requisições HTTP por segundo"
    live_api = me[0]["figures"].get("api.requests", 0.0)
    assert requests["value"] == pytest.approx(3.5 + live_api)
    [sync] = body["queues"]
    assert (sync["queue"], sync["depth"], sync["backed_up"]) == ("sync", 100, False)
    assert [p["depth"] for p in sync["history"]] == [300, 200, 100]  # the last 45 minutes


@pytest.mark.parametrize("history", ["-1", "1441", "abc"])
def test_bad_history_is_a_422_naming_the_field(
    db: Database, client: TestClient, history: str
) -> None:
    with db.write() as session:
        key = make_key(session)
    response = client.get(
        "/v1/health/services", headers={"X-API-Key": key}, params={"history_minutes": history}
    )
    assert response.status_code == 422
    assert "history_minutes" in response.text


def test_a_silent_service_raises_one_alert_resolved_when_it_reports_again(
    db: Database, settings: Settings
) -> None:
    now = utcnow()
    worker = put(db, 10, "worker", now - dt.timedelta(seconds=90), queues=("sync",))
    put(db, 11, "worker", now - dt.timedelta(seconds=90), parent=worker)  # pool process
    put(db, 12, "relay", now - dt.timedelta(seconds=90), stopped=True)  # a clean stop
    put(db, 13, "api", now - dt.timedelta(seconds=20))  # only late, not down
    first = check(db, settings, now)
    assert first.raised == [f"health:down:{worker}"]
    alert = open_alerts(db)[f"health:down:{worker}"]
    assert (alert.kind, alert.severity, alert.source) == ("service_down", "critical", "worker")
    assert alert.domain == "ops"
    assert (
        worker in alert.message and "sync" in alert.message and "parou de reportar" in alert.message
    )
    check(db, settings, now + dt.timedelta(seconds=30))  # still down: still one alert
    with db.read() as session:
        assert len(session.scalars(select(Alert)).all()) == 1
    put(db, 10, "worker", now + dt.timedelta(seconds=40), queues=("sync",))  # back
    put(db, 13, "api", now + dt.timedelta(seconds=40))  # the api kept reporting
    later = check(db, settings, now + dt.timedelta(seconds=45))
    assert later.resolved == [f"health:down:{worker}"] and not open_alerts(db)


def test_a_replaced_process_raises_nothing_and_a_pruned_one_resolves(
    db: Database, settings: Settings
) -> None:
    now = utcnow()
    dead = now - dt.timedelta(minutes=10)
    put(db, 20, "api", dead)
    put(db, 21, "api", now, started=dead + dt.timedelta(seconds=2))  # the supervisor's restart
    other = put(db, 22, "worker", dead, queues=("ingest",))
    put(db, 23, "worker", now, queues=("sync",), started=dead + dt.timedelta(seconds=1))
    result = check(db, settings, now)
    assert result.raised == [f"health:down:{other}"]  # a worker of other queues is no stand-in
    with db.write() as session:
        gone, _ = service.prune(session, settings, now + dt.timedelta(hours=24, minutes=1))
    assert gone == 4
    assert check(db, settings, now).resolved == [f"health:down:{other}"]


def test_a_backed_up_queue_alerts_after_a_while_and_resolves_when_it_drains(
    db: Database, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"health_queue_max_depth": 1000, "health_queue_backlog_seconds": 300}
    )
    t0 = utcnow()

    def at(seconds: int) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    samples(db, "ingest", [(at(0), 400), (at(30), 1500), (at(60), 900), (at(90), 2000)])
    samples(db, "sync", [(at(0), 5), (at(90), 6)])
    assert check(db, settings, at(100)).raised == []  # above the limit for 10 s only
    samples(db, "ingest", [(at(n), 2500 + n) for n in range(120, 400, 30)])
    result = check(db, settings, at(395))
    assert result.raised == ["health:queue:ingest"]  # above since 90 s: 305 s
    alert = open_alerts(db)["health:queue:ingest"]
    assert (alert.kind, alert.severity) == ("queue_backlog", "warning")
    assert "ingest" in alert.message and "2.890" in alert.message
    with db.read() as session:
        overview = service.overview(session, settings, at(395))
    ingest = next(q for q in overview.queues if q.queue == "ingest")
    assert ingest.backed_up and ingest.above_limit_since == at(90)
    samples(db, "ingest", [(at(420), 12)])
    assert check(db, settings, at(425)).resolved == ["health:queue:ingest"]
    assert not open_alerts(db)


def test_prune_forgets_old_instances_and_samples(db: Database, settings: Settings) -> None:
    now = utcnow()
    put(db, 30, "api", now - dt.timedelta(hours=25))
    put(db, 31, "api", now - dt.timedelta(hours=23))
    samples(db, "sync", [(now - dt.timedelta(hours=30), 1), (now - dt.timedelta(hours=1), 2)])
    with db.write() as session:
        assert service.prune(session, settings, now) == (1, 1)
    with db.read() as session:
        assert [r.pid for r in session.scalars(select(ServiceHeartbeat))] == [31]
        assert [s.depth for s in session.scalars(select(QueueDepthSample))] == [2]


def test_the_beat_tasks_run_the_check_and_the_pruning(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.config import reset_settings
    from sincro.ops.schedule import beat_entries
    from sincro.ops.tasks import check_health, prune_health
    from sincro.worker import beat_schedule

    monkeypatch.setenv("SINCRO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(settings.var_dir))
    reset_settings()
    schedule: dict[str, Any] = beat_schedule(settings)
    assert set(beat_entries(settings)) <= set(schedule)
    now = utcnow()
    instance = put(db, 40, "beat", now - dt.timedelta(minutes=3))
    put(db, 41, "api", now - dt.timedelta(days=2))
    assert prune_health.run() == [1, 0]  # the api gone for two days
    assert check_health.run() == {"raised": [f"health:down:{instance}"], "resolved": []}
    assert check_health.run() is None  # just ran: not due for another 30 s


def test_the_api_runs_the_check_too_once_per_interval(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With beat (or every worker) dead, the api processes still notice: one check per
    interval across them, through a shared lock."""
    monkeypatch.setattr(service, "CHECK_SECONDS", 0.2)
    instance = put(db, 50, "beat", utcnow() - dt.timedelta(minutes=5))
    with TestClient(create_app(settings)), TestClient(create_app(settings)):
        deadline = time.monotonic() + 10
        while f"health:down:{instance}" not in open_alerts(db):
            assert time.monotonic() < deadline, "no api process ran the check"
            time.sleep(0.05)
    from sincro.sharedstate import shared_state_from_settings

    shared = shared_state_from_settings(settings, db)
    time.sleep(0.3)  # the apps' last lock (0.18 s) has expired
    try:
        assert service.check_if_due(db, settings, shared, every=60) is not None
        assert service.check_if_due(db, settings, shared, every=60) is None
    finally:
        shared.close()
