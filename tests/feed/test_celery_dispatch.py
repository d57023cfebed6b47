"""The real Celery path: ``dispatch_webhooks.delay()`` through the embedded SQLAlchemy broker
to a worker process, which delivers to a local receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.feed.conftest import Receiver, change_stock, one_sku_and_admin, wait_for

SEND = "from sincro.feed.tasks import dispatch_webhooks; dispatch_webhooks.delay()"
WORKER = [
    "-m", "celery", "-A", "sincro.worker:celery_app", "worker", "--pool", "solo", "-Q", "events",
    "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
]  # fmt: skip


# the broker and the worker are the same on either database; the dispatch's SQL is tested on
# both in test_webhooks.py (and a worker on PostgreSQL runs in tests/fleet)
@pytest.mark.one_database
def test_delay_runs_on_a_real_worker(
    db: Database, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    admin = one_sku_and_admin(db, settings)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/webhooks", json={"url": receiver.url()}, headers={"X-API-Key": admin})
    assert r.status_code == 201, r.text
    receiver.secrets["/hook"] = r.json()["secret"]
    seqs = change_stock(db, ("CEL-1", "LJ-A", 2), ("CEL-1", "LJ-A", 3))
    env = embedded_env(settings, tmp_path) | {"SINCRO_WORKER_NICE": "0"}  # not behind us
    subprocess.run([sys.executable, "-c", SEND], env=env, check=True, timeout=30)
    worker = subprocess.Popen(
        [sys.executable, *WORKER],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.err").open("wb"),  # a file: a pipe nobody reads stalls
    )
    try:
        wait_for(lambda: receiver.delivered_seqs() == seqs, timeout=20, what="the worker")
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    err = (tmp_path / "worker.err").read_bytes()
    assert receiver.accepted()[0].headers["Sincro-Delivery"] == f"{seqs[0]}-{seqs[-1]}"
    assert b"Traceback" not in err, err.decode()


def embedded_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment of a Sincro process on the test database and an embedded broker."""
    return {
        **os.environ,
        "SINCRO_DATABASE_URL": settings.database_url,
        "SINCRO_BROKER_URL": settings.broker_url,
        "SINCRO_VAR_DIR": str(tmp_path),
        "SINCRO_LOG_JSON": "false",
        "SINCRO_FEED_WEBHOOK_ALLOWED_HOSTS": ",".join(settings.feed_webhook_allowed_hosts),
    }
