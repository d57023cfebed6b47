"""Exactly-once effect with real Celery workers on RabbitMQ: a worker is killed with SIGKILL
mid-campaign against a sink that takes 50 ms per message; a second worker, the broker's
redelivery (acks_late) and the reaper finish the campaign. Every recipient gets the campaign,
nobody gets two different Message-IDs, and a repeated Message-ID happens only for the message in
flight at the kill (at most one, reported in doubt)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sincro.config import Settings
from sincro.db import Database
from sincro.messaging import service
from sincro.messaging.schemas import CampaignIn
from sincro.worker import broker_reachable
from tests.messaging.support import ACTOR, add_customers, make_template
from tests.services import AMQP_URL, absent
from tests.smtp_sink import SmtpSink, free_port

RECIPIENTS = 80
SRC = str(Path(__file__).resolve().parents[2] / "src")
ROOT = str(Path(__file__).resolve().parents[2])


class SlowSink(SmtpSink):
    """Takes ``delay`` seconds per message, like a real relay."""

    delay = 0.05

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_sink() -> Iterator[SlowSink]:
    from aiosmtpd.controller import Controller

    sink = SlowSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own (rabbitmqctl), else the default one."""
    if not broker_reachable(AMQP_URL):
        absent("RabbitMQ", f"no broker at {AMQP_URL}")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        yield AMQP_URL
        return
    vhost = f"sincro-test-{uuid.uuid4().hex[:8]}"
    run = {"check": True, "capture_output": True, "timeout": 60}
    subprocess.run([ctl, "add_vhost", vhost], **run)  # type: ignore[call-overload]
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], **run)  # type: ignore[call-overload]
    try:
        parts = urlsplit(AMQP_URL)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], check=False, capture_output=True, timeout=60)


def _env(settings: Settings, broker: str, sink_port: int, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{SRC}:{ROOT}",
        "SINCRO_DATABASE_URL": settings.database_url,
        "SINCRO_BROKER_URL": broker,
        "SINCRO_VAR_DIR": str(var),
        "SINCRO_SECRET_KEY": "k" * 40,
        "SINCRO_LOG_JSON": "false",
        "SINCRO_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
        "SINCRO_MESSAGING_RATE_PER_SECOND": "1000",
        "SINCRO_MESSAGING_CLAIM_SIZE": "5",
        "SINCRO_MESSAGING_BATCH_SIZE": "20",
        "SINCRO_MESSAGING_LEASE_SECONDS": "5",
        "SINCRO_MESSAGING_QUIET_START": "0",
        "SINCRO_MESSAGING_QUIET_END": "0",
        "SINCRO_WORKER_NICE": "0",  # not behind the test's threads on a loaded machine
    }


def _worker(env: dict[str, str], name: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sincro.worker:celery_app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "messaging,email",
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=(cwd / f"{name}.err").open("wb"),  # a pipe nobody reads would stall the worker
    )


def _python(env: dict[str, str], code: str) -> None:
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def _wait(condition: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_sigkill_mid_campaign_loses_nothing_and_sends_nothing_twice(
    db: Database, settings: Settings, slow_sink: SlowSink, amqp_url: str, tmp_path: Path
) -> None:
    add_customers(db, RECIPIENTS, purposes=("marketing",))
    template = make_template(db)
    with db.write() as s:
        campaign = service.create_campaign(
            s, CampaignIn(name="kill", template_id=template), ACTOR, settings
        ).id
    env = _env(settings, amqp_url, slow_sink.port, tmp_path)
    _python(
        env,
        "from sincro.config import get_settings; from sincro.db import database_for;"
        "from sincro.messaging import service; from sincro.audit import Actor;\n"
        f"db = database_for(get_settings())\n"
        f"with db.write() as s: service.transition(s, {campaign}, 'start', Actor.cli('t'))",
    )
    first = _worker(env, "a", tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait(lambda: len(slow_sink.messages) >= 20, 60, "the first worker to send 20")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = len(slow_sink.messages)
        second = _worker(env, "b", tmp_path)
        tick = (
            "from sincro.config import get_settings; from sincro.db import database_for;"
            "from sincro.messaging import orchestrator; s = get_settings();"
            "print(orchestrator.tick(database_for(s), s))"
        )

        def finished() -> bool:
            with db.read() as s:
                counts = service.counts(s, campaign)
            if counts.queued or counts.sending:
                if counts.sending and time.monotonic() - finished.last_tick > 2:  # type: ignore[attr-defined]
                    _python(env, tick)  # the reaper: dead claims back to pending after the lease
                    finished.last_tick = time.monotonic()  # type: ignore[attr-defined]
                return False
            return True

        finished.last_tick = time.monotonic()  # type: ignore[attr-defined]
        _wait(finished, 90, "every message to be sent")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()  # the campaign is over (or the test failed): nothing to finish
                process.wait(15)
    assert killed_at < RECIPIENTS  # the kill happened mid-campaign
    ids_per_address: dict[str, set[str]] = defaultdict(set)
    for m in slow_sink.messages:
        ids_per_address[str(m["To"])].add(str(m["Message-ID"]))
    assert len(ids_per_address) == RECIPIENTS  # no loss
    assert all(len(ids) == 1 for ids in ids_per_address.values())  # never two Message-IDs
    repeats = sum(n - 1 for n in Counter(str(m["Message-ID"]) for m in slow_sink.messages).values())
    with db.read() as s:
        counts = service.counts(s, campaign)
    assert counts.sent == RECIPIENTS and counts.failed == 0
    assert repeats <= 1  # only the message in flight at the kill
    assert repeats <= counts.in_doubt <= 1  # and it is reported as in doubt
