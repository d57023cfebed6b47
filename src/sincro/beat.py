"""Celery beat that costs little while there is nothing to do: gated entries and wake-ups.

Most beat entries are ticks that find nothing to do when the system is idle, and every tick
sent costs a round trip through the broker and a worker (several milliseconds of CPU in beat,
the worker and its pool process) even when the task returns at once. Two optional keys of a
domain's beat entry (stripped before Celery sees the schedule: ``sincro.worker``) change that:

``gate``: ``(db, settings) -> bool``
    Asked in beat each time the entry is due; the task is sent only when it answers True (there
    is work). The question is the cheap read the task would start with, so the entry keeps its
    cadence and its latency while an idle tick costs one small query in beat. A gate that
    fails sends the task (the task reports what went wrong).

``wake``: :class:`Wake`
    On PostgreSQL, beat's :class:`Waker` (a thread with a LISTEN connection of its own) also
    sends the task between its scheduled runs: soon after every commit that wrote outbox
    events (``sincro_events``, sent by :mod:`sincro.outbox_notify`) when ``on_events``, and
    when a task asks for a run with :func:`request` (``NOTIFY sincro_wake``, e.g. work left
    over, a retry due in 4 s) — at most once per ``gap`` seconds. The entry's own schedule is
    then only a slow safety poll (a wake-up lost while the listener reconnects or beat
    restarts). SQLite has no server to LISTEN on: there the domain keeps a short schedule.

Beat is one process per deployment, so wake-ups are coalesced in one place: a burst of
commits, or several workers asking at once, sends the task once per ``gap``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from sqlalchemy import text
from sqlalchemy.orm import Session

from sincro.config import Settings, get_settings
from sincro.db import Database, database_for
from sincro.outbox_notify import (
    CHANNEL as EVENTS_CHANNEL,
    RECONNECT_SECONDS,
    NotifyWaiter,
    connect,
)

log = logging.getLogger("sincro.beat")
WAKE_CHANNEL = "sincro_wake"
Gate = Callable[[Database, Settings], bool]


@dataclass(frozen=True)
class Wake:
    """Beat also sends the entry's task on request (see the module docstring)."""

    gap: float  # at most one send per this many seconds (the cadence it had as a poll)
    on_events: bool = False  # after every commit that wrote outbox events


class Lingering:
    """A gate that stays open ``seconds`` after ``gate`` last found work: for a tick that also
    reports a state (a gauge) once the work has ended."""

    def __init__(self, gate: Gate, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.gate, self.seconds, self.clock = gate, seconds, clock
        self._open_until = -math.inf

    def __call__(self, db: Database, settings: Settings) -> bool:
        if self.gate(db, settings):
            self._open_until = self.clock() + self.seconds
            return True
        return self.clock() < self._open_until


def request(session: Session, task: str, delay: float = 0.0) -> None:
    """Ask beat to send ``task`` in ``delay`` seconds (no sooner than its ``gap`` allows) when
    ``session`` commits. PostgreSQL only: elsewhere the entry's own schedule runs the task."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": WAKE_CHANNEL, "payload": f"{task} {max(0.0, delay):.3f}"},
    )


def request_soon(db: Database, task: str, delay: float = 0.0) -> None:
    """:func:`request` in a transaction of its own (nothing on SQLite)."""
    if db.is_sqlite:
        return
    with db.write() as session:
        request(session, task, delay)


class Waker:
    """Sends tasks on notifications, each at most once per its gap (beat's thread)."""

    def __init__(
        self,
        url: str,
        wakes: Mapping[str, Wake],
        send: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wakes`` maps task names to their :class:`Wake`; ``send(task)`` publishes one."""
        self.url, self.wakes, self.send, self.clock = url, dict(wakes), send, clock
        self.sent = 0
        self.listening = threading.Event()
        self._due: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiter = NotifyWaiter()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sincro-beat-waker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._waiter.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._waiter.close()

    def want(self, task: str, at: float) -> None:
        """Send ``task`` at ``at`` (monotonic), or later if it was sent less than a gap ago."""
        wake = self.wakes.get(task)
        if wake is None:
            return
        at = max(at, self._last.get(task, -math.inf) + wake.gap)
        if at < self._due.get(task, math.inf):
            self._due[task] = at

    def notified(self, channel: str, payload: str) -> None:
        now = self.clock()
        if channel == EVENTS_CHANNEL:
            for task, wake in self.wakes.items():
                if wake.on_events:
                    self.want(task, now)
        elif channel == WAKE_CHANNEL:
            task, _, delay = payload.partition(" ")
            try:
                self.want(task, now + float(delay or 0))
            except ValueError:
                log.warning("beat: unreadable wake-up request %r", payload[:120])

    def send_due(self) -> float | None:
        """Send what is due; the monotonic time of the next one (None: nothing wanted)."""
        now = self.clock()
        for task, at in list(self._due.items()):
            if at <= now:
                del self._due[task]
                self._last[task] = now
                try:
                    self.send(task)
                    self.sent += 1
                except Exception as exc:  # the broker is away: the safety poll covers it
                    log.warning("beat: could not send %s on wake-up (%s)", task, exc)
        return min(self._due.values(), default=None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.url) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    self.listening.set()
                    self.notified(EVENTS_CHANNEL, "")  # what committed while we were away
                    while not self._stop.is_set():
                        upcoming = self.send_due()  # then asleep until the next or a notice
                        wait = None if upcoming is None else max(0.0, upcoming - self.clock())
                        for note in self._waiter.wait(conn, wait):
                            self.notified(note.channel, note.payload)
            except Exception as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("beat: waker lost its connection (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_SECONDS)


def split_entries(
    entries: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, Gate], dict[str, Wake]]:
    """Celery's entries (without ``gate`` and ``wake``), the gates by entry name and the
    wake-ups by task name."""
    celery: dict[str, dict[str, Any]] = {}
    gates: dict[str, Gate] = {}
    wakes: dict[str, Wake] = {}
    for name, entry in entries.items():
        plain = dict(entry)
        gate, wake = plain.pop("gate", None), plain.pop("wake", None)
        if gate is not None:
            gates[name] = gate
        if wake is not None:
            wakes[plain["task"]] = wake
        celery[name] = plain
    return celery, gates, wakes


class Scheduler(PersistentScheduler):
    """Celery's persistent scheduler with the gates and the waker of the module docstring."""

    gates: dict[str, Gate]
    waker: Waker | None = None

    def setup_schedule(self) -> None:
        super().setup_schedule()
        from sincro.worker import beat_schedule

        self.settings = get_settings()
        _, self.gates, wakes = split_entries(beat_schedule(self.settings))
        if wakes and not self.settings.is_sqlite:
            options = {str(e.task): dict(e.options or {}) for e in self.schedule.values() if e.task}
            self.waker = Waker(
                self.settings.database_url,
                wakes,
                lambda task: self.app.send_task(task, **options.get(task, {})),
            )
            self.waker.start()
            log.info("beat: wake-ups on PostgreSQL for %s", ", ".join(sorted(wakes)))

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        gate = self.gates.get(entry.name)
        if gate is not None and not self._open(entry.name, gate):
            return
        super().apply_entry(entry, producer)

    def _open(self, name: str, gate: Gate) -> bool:
        try:
            return bool(gate(database_for(self.settings), self.settings))
        except Exception as exc:
            log.warning("beat: gate of %s failed (%s); sending the task", name, exc)
            return True

    def close(self) -> None:
        if self.waker is not None:
            with contextlib.suppress(Exception):
                self.waker.stop(timeout=1)
        super().close()
