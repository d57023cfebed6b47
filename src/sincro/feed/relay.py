"""The RabbitMQ relay: outbox events to a fanout exchange, so every api replica streams them.

Only in production (``SINCRO_BROKER_URL=amqp://...``); kombu's SQLAlchemy transport has no
fanout, so in embedded mode each api process tails the outbox itself.

The relay tails the outbox with the gap-aware :class:`~sincro.feed.tailer.OutboxTailer` and
publishes each batch (events of every topic) as one persistent message ``{"prev": <seq before
the batch>, "events": [...]}`` to the fanout exchange ``settings.events_exchange``, waiting for
the broker's publisher confirm. Only then is its position stored (table ``feed_cursors``, one
row per exchange), so a restart resumes where it stopped: nothing is lost, and the one batch that
may be published twice (confirmed, then a crash before the position was stored) is dropped by
consumers, which ignore events at or below their position (see :mod:`sincro.feed.amqp`).

One relay publishes at a time. On PostgreSQL the leader holds ``pg_try_advisory_lock`` on a
dedicated connection (released when that connection closes, e.g. if the process dies); the
others stand by and retry every few seconds. On SQLite (a single machine) a file lock in
``var_dir`` plays that part.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import IO, Any

from kombu import Connection, Exchange, Producer
from sqlalchemy import Connection as SqlConnection, NullPool, create_engine, text

from sincro.config import Settings
from sincro.db import Database, database_for, postgres_url, utcnow
from sincro.feed import repository as repo
from sincro.feed.tailer import OutboxTailer

log = logging.getLogger("sincro.feed.relay")

RELAY_BATCH = 500
STANDBY_RETRY_SECONDS = 3.0
LOCK_CHECK_SECONDS = 5.0
PUBLISH_TIMEOUT_SECONDS = 10.0
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.5, "interval_step": 1, "interval_max": 2}


def cursor_name(exchange: str) -> str:
    """The ``feed_cursors`` row holding the relay position of one exchange."""
    return f"relay:{exchange}"


def events_exchange(name: str) -> Exchange:
    """The fanout exchange events are published to (durable, persistent messages)."""
    return Exchange(name, type="fanout", durable=True, delivery_mode="persistent")


def lock_key(exchange: str) -> int:
    """A stable signed 64-bit advisory-lock key per exchange."""
    digest = hashlib.sha256(f"sincro.relay:{exchange}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RelayLock:
    """Leadership among relays of one exchange: a PostgreSQL advisory lock or a file lock."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.key = lock_key(settings.events_exchange)
        self._conn: SqlConnection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Try once, without waiting; True when this process is now the leader."""
        if self.db.is_sqlite:
            return self._acquire_file()
        engine = create_engine(postgres_url(self.db.url), poolclass=NullPool)
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = False
        try:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}))
        finally:
            if not got:  # held elsewhere, or the query failed: do not keep the connection
                conn.close()
                engine.dispose()
        if got:
            self._conn = conn
        return got

    def _acquire_file(self) -> bool:
        import fcntl  # POSIX only, like the SQLite single-machine deployment it serves

        path = Path(self.settings.var_dir) / f"relay-{self.key & 0xFFFFFFFF:08x}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def alive(self) -> bool:
        """Still the leader? (The lock's connection is still up.)"""
        if self._conn is None:
            return self._file is not None
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self._conn is not None:
            engine = self._conn.engine
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except Exception:
                log.warning("could not unlock the relay lock; closing its connection")
            finally:
                self._conn.close()
                engine.dispose()
                self._conn = None
        if self._file is not None:
            self._file.close()  # closing the file releases its flock
            self._file = None


class Relay:
    """The leader's work: tail, publish with confirms, store the position."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.name = cursor_name(settings.events_exchange)
        self.exchange = events_exchange(settings.events_exchange)
        self.tailer = OutboxTailer(db, settings.feed_gap_timeout_seconds, batch=RELAY_BATCH)

    def load_position(self) -> int:
        """The stored position; the first run starts at the current end of the outbox."""
        with self.db.write() as session:
            seq = repo.get_feed_cursor(session, self.name)
            if seq is None:
                seq = repo.max_seq(session)
                repo.set_feed_cursor(session, self.name, seq, utcnow())
        return seq

    def store_position(self, seq: int) -> None:
        with self.db.write() as session:
            repo.set_feed_cursor(session, self.name, seq, utcnow())

    def run(self, lock: RelayLock, stop: threading.Event) -> None:
        """Publish until ``stop`` is set or leadership is lost (then raise)."""
        self.tailer.start_at(self.load_position())
        log.info(
            "relay publishing",
            extra={"exchange": self.exchange.name, "position": self.tailer.position},
        )
        options = {"confirm_publish": True}
        with Connection(self.settings.broker_url, transport_options=options) as conn:
            producer = Producer(conn.default_channel, exchange=self.exchange, serializer="json")
            check_at = time.monotonic() + LOCK_CHECK_SECONDS
            while not stop.is_set():
                if time.monotonic() >= check_at:
                    if not lock.alive():
                        raise RuntimeError("relay lost its leadership lock")
                    check_at = time.monotonic() + LOCK_CHECK_SECONDS
                if self.step(producer) < self.tailer.batch:
                    stop.wait(self.settings.feed_poll_interval_seconds)

    def step(self, producer: Producer) -> int:
        """Publish the next safe batch, if any; returns how many events it held."""
        prev = self.tailer.position
        events = self.tailer.poll()
        if not events:
            return 0
        self.publish(producer, {"prev": prev, "events": events})
        self.store_position(events[-1]["seq"])
        return len(events)

    def publish(self, producer: Producer, body: dict[str, Any]) -> None:
        producer.publish(
            body,
            exchange=self.exchange,
            routing_key="",
            delivery_mode=2,
            declare=[self.exchange],
            retry=True,
            retry_policy=RETRY_POLICY,
            timeout=PUBLISH_TIMEOUT_SECONDS,
            confirm_timeout=PUBLISH_TIMEOUT_SECONDS,
        )


def run_relay(
    settings: Settings,
    stop_event: threading.Event,
    *,
    db: Database | None = None,
    standby_retry: float = STANDBY_RETRY_SECONDS,
) -> None:
    """Relay outbox events to RabbitMQ until ``stop_event`` is set, as leader or standby."""
    db = db or database_for(settings)
    while not stop_event.is_set():
        lock = RelayLock(db, settings)
        try:
            if lock.acquire():
                Relay(db, settings).run(lock, stop_event)
            else:
                log.debug("another relay is the leader; standing by")
        except Exception:
            log.exception("relay stopped on an error; retrying")
        finally:
            lock.release()
        stop_event.wait(standby_retry)
