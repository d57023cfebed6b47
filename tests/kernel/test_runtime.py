"""The embedded supervisor restarts what dies, and the schema check at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sincro.migrate import SchemaNotCurrent, code_heads, current_heads, ensure_schema
from sincro.runtime import Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor({"api": SLEEPER, "worker": SLEEPER}, log_dir=tmp_path / "log")
    sup.start()
    try:
        yield sup
    finally:
        sup.stop(timeout=5)


def _wait_dead(proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 5
    while proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_killed_child_is_restarted_after_a_growing_backoff(supervisor: Supervisor) -> None:
    worker = supervisor.children[1]
    first = worker.proc
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    _wait_dead(first)
    now = time.monotonic()
    supervisor.poll(now)
    assert worker.next_start == pytest.approx(now + 1.0)
    supervisor.poll(now + 0.5)
    assert worker.proc is first, "restarted before its backoff"
    supervisor.poll(now + 1.0)
    second = worker.proc
    assert second is not first and second is not None and second.poll() is None
    os.kill(second.pid, signal.SIGKILL)
    _wait_dead(second)
    later = time.monotonic()
    supervisor.poll(later)
    assert worker.next_start == pytest.approx(later + 2.0)  # doubled
    assert supervisor.children[0].proc is not None
    assert supervisor.children[0].proc.poll() is None, "the api was left alone"


def test_each_child_writes_its_own_log(supervisor: Supervisor, tmp_path: Path) -> None:
    deadline = time.monotonic() + 5
    logs = [tmp_path / "log" / "api.log", tmp_path / "log" / "worker.log"]
    while not all(p.exists() and p.read_text().strip() == "up" for p in logs):
        assert time.monotonic() < deadline, [p.read_text() for p in logs if p.exists()]
        time.sleep(0.05)


def test_embedded_mode_migrates_a_fresh_database_once(fresh_url: str) -> None:
    assert current_heads(fresh_url) == set()
    assert ensure_schema(fresh_url, embedded=True) is True
    assert current_heads(fresh_url) == code_heads()
    assert ensure_schema(fresh_url, embedded=True) is False


def test_production_mode_refuses_a_database_behind_the_code(fresh_url: str) -> None:
    with pytest.raises(SchemaNotCurrent, match="sincro migrate"):
        ensure_schema(fresh_url, embedded=False)
    assert current_heads(fresh_url) == set(), "production must not migrate by itself"


def test_serve_in_production_on_an_unmigrated_database_exits_naming_migrate(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")},
        "SINCRO_MODE": "production",
        "SINCRO_SECRET_KEY": "a-private-test-secret-of-enough-length",
        "SINCRO_VAR_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "sincro.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "sincro migrate" in done.stderr


def test_the_worker_publishes_no_celery_events() -> None:
    """Nothing consumes Celery's event stream: the worker sends no events at all (an idle
    worker would otherwise publish a worker-heartbeat every 2 s)."""
    from types import SimpleNamespace

    from celery.worker.consumer.events import Events

    from sincro.runtime import worker_argv
    from sincro.worker import celery_app

    argv = worker_argv("default", 2, "w1@%h")
    assert argv[:3] == ["worker", "-Q", "default"]
    assert {"--without-gossip", "--without-mingle", "--without-heartbeat"} <= set(argv)
    assert celery_app.conf.worker_send_task_events is False
    step = Events(
        SimpleNamespace(),
        task_events=celery_app.conf.worker_send_task_events,
        without_heartbeat="--without-heartbeat" in argv,
        without_gossip="--without-gossip" in argv,
    )
    assert step.send_events is False
