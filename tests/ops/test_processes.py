"""The kernel's hooks, for real: a Celery worker (prefork: its node and its pool process),
beat (which also samples the broker's queues) report heartbeats, and say goodbye on SIGTERM;
a task's wait in its queue reaches the page as a figure.

On PostgreSQL only (the heartbeat statements run on both databases in
tests/kernel/test_heartbeat.py): a prefork worker takes some 8 s to stop, and the forked pool
process's connections are what this checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from sincro import health_store
from sincro.config import Settings
from sincro.db import Database
from sincro.health_store import QueueDepthSample, ServiceHeartbeat
from tests.feed.conftest import wait_for
from tests.feed.test_celery_dispatch import embedded_env

CELERY = [sys.executable, "-m", "celery", "-A", "sincro.worker:celery_app"]
WORKER = [
    *CELERY, "worker", "--pool", "prefork", "--concurrency", "1", "-Q", "sync,default",
    "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
]  # fmt: skip
BEAT = [*CELERY, "beat", "--loglevel", "WARNING"]
SEND = "from sincro.ops.tasks import check_health; check_health.delay()"


def _niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def rows(db: Database) -> list[ServiceHeartbeat]:
    with db.read() as session:
        return health_store.heartbeats(session)


@pytest.mark.postgres
def test_worker_pool_process_and_beat_report_and_say_goodbye(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=postgres_url,
        var_dir=tmp_path,
        broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
    )
    db = Database(postgres_url)
    env = {
        **embedded_env(settings, tmp_path),
        "SINCRO_HEALTH_HEARTBEAT_SECONDS": "0.5",
        "SINCRO_HEALTH_QUEUE_SAMPLE_SECONDS": "1",
    }
    host = socket.gethostname()
    # stderr goes to files, not pipes: a pipe nobody reads fills at 64 KiB and stalls the child
    logs = [tmp_path / "worker.err", tmp_path / "beat.err"]
    started = [
        subprocess.Popen(
            argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log.open("wb")
        )
        for argv, log in zip((WORKER, BEAT), logs, strict=True)
    ]
    worker, beat = started
    node = f"{host}:{worker.pid}"
    try:

        def everyone_reported() -> bool:
            found = rows(db)
            return (
                any(r.instance == node for r in found)
                and any(r.parent == node for r in found)
                and any(r.instance == f"{host}:{beat.pid}" for r in found)
            )

        wait_for(
            everyone_reported,
            timeout=60,
            what=lambda: (
                "the heartbeats of worker, pool and beat (exit codes "
                f"{[p.poll() for p in started]}; stderr {[log.read_text() for log in logs]})"
            ),
        )
        by_instance = {r.instance: r for r in rows(db)}
        assert by_instance[node].kind == "worker" and by_instance[node].queues == [
            "default",
            "sync",
        ]
        [pool] = [r for r in by_instance.values() if r.parent == node]
        assert pool.kind == "worker" and pool.queues == ["default", "sync"]
        assert by_instance[f"{host}:{beat.pid}"].kind == "beat"
        # workers yield the CPU to the api (SINCRO_WORKER_NICE, 10 by default); beat does not
        pool_pid = int(pool.instance.rsplit(":", 1)[1])
        lowered = max(10, os.nice(0))  # never raised: a test run under nice keeps its own
        assert [_niceness(worker.pid), _niceness(pool_pid)] == [lowered, lowered]
        assert _niceness(beat.pid) == os.nice(0)

        def sampled() -> bool:
            with db.read() as session:
                return session.scalar(select(QueueDepthSample).limit(1)) is not None

        wait_for(sampled, timeout=15, what="a queue depth sample from beat")
        subprocess.run([sys.executable, "-c", SEND], env=env, cwd=tmp_path, check=True, timeout=60)

        def queue_wait_reported() -> bool:
            return any("queues.wait" in (r.figures or {}) for r in rows(db) if r.parent == node)

        wait_for(queue_wait_reported, timeout=30, what="the pool process's queue wait figure")
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)
        errors = [log.read_text() for log in logs]
    by_instance = {r.instance: r for r in rows(db)}
    db.dispose()
    assert by_instance[node].stopped_at is not None, errors[0]
    assert by_instance[f"{host}:{beat.pid}"].stopped_at is not None, errors[1]
    assert all("Traceback" not in err for err in errors), errors
