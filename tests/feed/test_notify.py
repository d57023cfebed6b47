"""PostgreSQL wake-ups of the event hub (LISTEN/NOTIFY): an event committed by another
process reaches a subscriber of this api process at once, although the hub's safety poll is
set far longer than the wait."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.feed.notify import Listener
from sincro.feed.runtime import LISTENER, event_hub
from sincro.outbox_notify import CHANNEL, NotifyWaiter, connect
from tests.conftest import wipe

WRITER = """
import sys
from sincro.db import Database
from sincro.events import AvailabilityChange, record_events
db = Database(sys.argv[1])
with db.write() as s:
    record_events(s, [AvailabilityChange("N-1", "LJ1", 3, 3, 0, 1, "receipt")])
"""


def test_an_event_committed_by_another_process_wakes_the_hub(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_url)
    wipe(db)
    db.dispose()
    settings = Settings(
        database_url=postgres_url,
        var_dir=tmp_path,
        broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        log_json=False,
        availability_warm_skus=0,
        feed_idle_poll_seconds=30,  # the poll cannot explain a prompt delivery
    )
    app = create_app(settings)
    with TestClient(app) as client:
        hub = event_hub(app.state.sincro)
        sub = hub.subscribe(None, None)
        listener = app.state.sincro.service(LISTENER, Listener)
        assert listener.listening.wait(5)
        time.sleep(0.1)  # the wake-up sent on LISTEN has been served
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", WRITER, postgres_url], env=env, check=True)
        committed = time.monotonic()

        async def first() -> dict:  # type: ignore[type-arg]
            return await asyncio.wait_for(sub.queue.get(), timeout=5)  # type: ignore[return-value]

        event = client.portal.call(first)  # type: ignore[union-attr]
        arrived = time.monotonic()
    assert event is not None and event["sku"] == "N-1" and event["cause"] == "receipt"
    assert arrived - committed < 1.0, (started, committed, arrived)


def test_a_waiter_sleeps_until_a_notification_or_an_interrupt(postgres_url: str) -> None:
    """``NotifyWaiter`` sleeps in ``select`` (psycopg's own timeout loop wakes ten times a
    second): a notification or ``interrupt()`` ends the wait at once, else the timeout."""
    waiter = NotifyWaiter()
    with connect(postgres_url) as conn, connect(postgres_url) as other:
        conn.execute(f"LISTEN {CHANNEL}")
        started = time.monotonic()
        assert waiter.wait(conn, 0.3) == [] and time.monotonic() - started >= 0.25
        threading.Timer(0.2, waiter.interrupt).start()
        started = time.monotonic()
        assert waiter.wait(conn, 30) == [] and time.monotonic() - started < 5
        threading.Timer(0.2, lambda: other.execute(f"NOTIFY {CHANNEL}, 'x'")).start()
        started = time.monotonic()
        assert [n.payload for n in waiter.wait(conn, 30)] == ["x"]
        assert time.monotonic() - started < 5
    waiter.close()
