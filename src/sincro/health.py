"""Service health: liveness, readiness and metrics endpoints, and the heartbeat every process
reports.

**Heartbeats.** Every long-running process (api processes, Celery workers and their pool
processes, beat, the relay, watchers, the domains' own watchers) calls, once::

    from sincro import health
    health.start_heartbeat(settings, kind="signup", queues=())

and from then on a daemon thread upserts one row of ``service_heartbeats`` every
``SINCRO_HEALTH_HEARTBEAT_SECONDS`` (one statement; :mod:`sincro.health_store`): its kind,
``host:pid``, version, the queues it serves, when it started and was last seen, its last
``SINCRO_HEALTH_ERRORS_KEPT`` log records of level ERROR or above (personal data scrubbed by
:func:`sincro.text_pt.scrub`) and the *figures* it reads from its own Prometheus registry. It
never blocks the process: with the database away a beat is skipped (logged once, and once
again when it is back). At exit the row is marked stopped. ``stop_heartbeat()`` ends it
earlier. The api, the workers, beat and the relay are hooked in by the kernel's composition
(``app.py``, ``worker.py``, ``runtime.py``).

**Figures.** A domain declares, next to its Prometheus metrics, which of them people should
see on the health page, by metric (sample) name::

    health.register_figure("feed.webhook_failures", "sincro_webhook_deliveries_total",
                           "Falhas de webhook por segundo", kind="rate",
                           labels={"outcome": "failed"})

A ``value`` figure is the sum (``combine="max"``: the largest) of the matching samples; a
``rate`` is a counter's increase per second and a ``mean`` a histogram's average observation
(its ``_sum`` over its ``_count``), both over the last :data:`FIGURE_WINDOW_SECONDS`. A metric
this process does not have gives no figure, nor does a mean without observations in the
window (never a made-up zero).

**Queue depths.** The beat process (one per deployment) samples the broker's queues every
``SINCRO_HEALTH_QUEUE_SAMPLE_SECONDS`` into ``queue_depth_samples``, so no api replica polls
the broker for the page.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from sincro import __version__, health_store, text_pt
from sincro.config import Settings
from sincro.db import Database, Timeouts, utcnow
from sincro.deps import AppState, StateDep
from sincro.exposure import require_exposure
from sincro.metrics import render

log = logging.getLogger("sincro.health")
MESSAGE_MAX = 300  # characters of an error kept
MESSAGE_SCAN = 2000  # characters of a log message scrubbed (the rest is dropped first)
STOP_WAIT_SECONDS = 3.0

# --- figures --------------------------------------------------------------------------------


FigureKind = Literal["value", "rate", "mean"]
FIGURE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Figure:
    """A Prometheus figure shown on the health page: ``metric`` is the sample name
    (``sincro_events_delivered_total``), ``labels`` the label values a sample must have."""

    key: str
    metric: str
    label: str
    kind: FigureKind = "value"
    labels: Mapping[str, str] = field(default_factory=dict)
    unit: str = ""
    combine: Literal["sum", "max"] = "sum"  # across instances (and a value's label sets)


_FIGURES: dict[str, Figure] = {}


def register_figure(
    key: str,
    metric: str,
    label: str,
    *,
    kind: FigureKind = "value",
    labels: Mapping[str, str] | None = None,
    unit: str = "",
    combine: Literal["sum", "max"] = "sum",
) -> Figure:
    """Declare a figure (idempotent per ``key``); call it where the metric is defined."""
    figure = Figure(key, metric, label, kind, dict(labels or {}), unit, combine)
    _FIGURES[key] = figure
    return figure


def figures() -> tuple[Figure, ...]:
    """Every figure declared in this process, in declaration order."""
    return tuple(_FIGURES.values())


# the kernel's own figures (sincro.metrics)
register_figure(
    "api.requests",
    "sincro_http_request_duration_seconds_count",
    "Requisições HTTP por segundo",
    kind="rate",
    unit="/s",
)
register_figure(
    "api.server_errors",
    "sincro_http_request_duration_seconds_count",
    "Respostas 500 por segundo",
    kind="rate",
    labels={"status": "500"},
    unit="/s",
)
register_figure(
    "queues.wait",
    "sincro_task_queue_wait_seconds",
    "Espera na fila até a tarefa começar (média)",
    kind="mean",
    unit="s",
    combine="max",
)


SUFFIXES = ("", "_total", "_count", "_sum", "_bucket")
Samples = dict[str, list[tuple[Mapping[str, str], float]]]


def sample_values(registry: CollectorRegistry) -> Samples:
    """Every sample of ``registry`` by name: [(labels, value)]; a metric without samples yet
    (a labelled counter never incremented) is there with an empty list."""
    found: Samples = {}
    for metric in registry.collect():
        for suffix in SUFFIXES:
            found.setdefault(metric.name + suffix, [])
        for sample in metric.samples:
            found.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    return found


def figure_total(figure: Figure, samples: Samples, suffix: str = "") -> float | None:
    """The sum (or the largest, ``combine="max"``) of the samples a figure covers, from
    ``metric + suffix``; 0 when the metric exists but no sample has the figure's labels yet;
    None when this process does not have the metric."""
    name = figure.metric + suffix
    if name not in samples:
        return None
    matching = [
        value
        for labels, value in samples[name]
        if all(labels.get(k) == v for k, v in figure.labels.items())
    ]
    if figure.combine == "max" and figure.kind == "value":
        return max(matching, default=0.0)
    return sum(matching)


# --- recent errors --------------------------------------------------------------------------


class ErrorCapture(logging.Handler):
    """Keeps the last ``keep`` records of level ERROR and above, scrubbed of personal data
    (CPF, CNPJ, e-mail, phone) and cut to :data:`MESSAGE_MAX` characters."""

    def __init__(self, keep: int) -> None:
        super().__init__(logging.ERROR)
        self.recent: deque[dict[str, str]] = deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.recent.append(error_entry(record))
        except Exception:  # a handler must never raise into the code that logged
            self.handleError(record)

    def snapshot(self) -> list[dict[str, str]]:
        return list(self.recent)


def error_entry(record: logging.LogRecord) -> dict[str, str]:
    """One record as stored: time, level, logger and the scrubbed message (with the
    exception's type and message, never its traceback)."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        message = f"{message} — {type(exc).__name__}: {exc}"
    message = " ".join(message[:MESSAGE_SCAN].split())
    clean = text_pt.scrub(message)
    if len(clean) > MESSAGE_MAX:
        clean = clean[: MESSAGE_MAX - 1] + "…"
    at = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return {
        "at": at.isoformat(),
        "level": record.levelname,
        "logger": record.name,
        "message": clean,
    }


# --- the heartbeat --------------------------------------------------------------------------


@dataclass
class Duty:
    """Extra work a heartbeat thread does every ``every`` seconds (the beat's queue samples)."""

    name: str
    every: float
    run: Callable[[Database], None]
    due: float = 0.0
    failing: bool = False


class Heartbeat:
    """One process's reporter: a daemon thread that upserts its row every ``interval``."""

    def __init__(
        self,
        settings: Settings,
        kind: str,
        queues: Iterable[str] = (),
        *,
        parent: str | None = None,
        db: Database | None = None,
        duties: Sequence[Duty] = (),
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.kind = kind
        self.queues = sorted(set(queues))
        self.parent = parent
        self.interval = settings.health_heartbeat_seconds
        self.host = socket.gethostname()[:100]
        self.pid = os.getpid()
        self.instance = f"{self.host}:{self.pid}"
        self.started_at = utcnow()
        self.capture = ErrorCapture(settings.health_errors_kept)
        self.duties = list(duties)
        self.registry = registry
        self._own_db = db is None
        self.db = db or Database(settings.database_url, pool_size=1, timeouts=Timeouts.of(settings))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        # figure key: readings (monotonic, total, count) of the last FIGURE_WINDOW_SECONDS
        self._readings: dict[str, deque[tuple[float, float, float]]] = {}
        self._stopped = False

    # lifecycle

    def start(self) -> Heartbeat:
        self._attach()
        self._thread = threading.Thread(
            target=self._run, name=f"sincro-heartbeat-{self.kind}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """End the thread; its last write marks the row stopped (skipped if the database is
        away: the row then goes stale and down, as for a crash)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(wait)
        logging.getLogger().removeHandler(self.capture)
        if self._own_db and (self._thread is None or not self._thread.is_alive()):
            self.db.dispose()

    def forget_after_fork(self) -> None:
        """In a forked child: drop this (the parent's) reporter without touching its
        connections (they belong to the parent) and take its handler off the logging tree."""
        self._stopped = True
        logging.getLogger().removeHandler(self.capture)
        if self._own_db:
            self.db.write_engine.dispose(close=False)
            if self.db.read_engine is not self.db.write_engine:
                self.db.read_engine.dispose(close=False)

    def _attach(self) -> None:
        """(Re)attach the error handler: logging set up after start replaces root handlers."""
        root = logging.getLogger()
        if not self._stopped and self.capture not in root.handlers:
            root.addHandler(self.capture)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._attach()
            self.beat()
            self._duties()
            self._stop.wait(self.interval)
        if not self._failing:
            self.beat(stopping=True)

    # one beat

    def row(self, stopping: bool = False) -> dict[str, Any]:
        now = utcnow()
        return {
            "instance": self.instance,
            "kind": self.kind,
            "host": self.host,
            "pid": self.pid,
            "parent": self.parent,
            "version": __version__,
            "queues": self.queues,
            "interval_seconds": float(self.interval),
            "started_at": self.started_at,
            "last_seen": now,
            "stopped_at": now if stopping else None,
            "errors": self.capture.snapshot(),
            "figures": self._figures(),
        }

    def _figures(self) -> dict[str, float]:
        try:
            return self.read_figures()
        except Exception:  # a broken collector must not stop the heartbeat
            log.debug("figures not read", exc_info=True)
            return {}

    def read_figures(self) -> dict[str, float]:
        """Each declared figure this process has a metric for (rates and means once two
        readings exist)."""
        declared = figures()
        if not declared:
            return {}
        samples = sample_values(self.registry)
        now, values = time.monotonic(), {}
        for figure in declared:
            if figure.kind == "mean":
                total = figure_total(figure, samples, "_sum")
                count = figure_total(figure, samples, "_count")
            else:
                total, count = figure_total(figure, samples), 0.0
            if total is None or count is None:
                continue
            if figure.kind == "value":
                values[figure.key] = total
                continue
            change = self._windowed(figure.key, now, total, count)
            if change is None:
                continue
            seconds, added, observed = change
            if figure.kind == "rate":
                values[figure.key] = round(added / seconds, 4)
            elif observed > 0:
                values[figure.key] = round(added / observed, 4)
        return values

    def _windowed(
        self, key: str, now: float, total: float, count: float
    ) -> tuple[float, float, float] | None:
        """(seconds, increase of the total, increase of the count) since the oldest reading
        of the window; None without an earlier reading (or after a reset)."""
        readings = self._readings.setdefault(key, deque())
        readings.append((now, total, count))
        while len(readings) > 2 and readings[1][0] <= now - FIGURE_WINDOW_SECONDS:
            readings.popleft()
        first = readings[0]
        if first[0] >= now or total < first[1] or count < first[2]:
            if total < first[1] or count < first[2]:
                readings.clear()
                readings.append((now, total, count))
            return None
        return now - first[0], total - first[1], count - first[2]

    def beat(self, stopping: bool = False) -> bool:
        """Write this process's row; False (logged once) when the database is away."""
        try:
            row = self.row(stopping)
            with self.db.write() as session:
                health_store.upsert_heartbeat(session, row)
        except Exception as exc:
            if not self._failing:
                log.warning("heartbeat of %s skipped: %s", self.instance, _short(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("heartbeat of %s written again", self.instance)
        self._failing = False
        return True

    def _duties(self) -> None:
        now = time.monotonic()
        for duty in self.duties:
            if now < duty.due:
                continue
            duty.due = now + duty.every
            try:
                duty.run(self.db)
            except Exception as exc:
                if not duty.failing:
                    log.warning("%s skipped: %s", duty.name, _short(exc))
                duty.failing = True
            else:
                if duty.failing:
                    log.info("%s back", duty.name)
                duty.failing = False


def _short(exc: BaseException) -> str:
    return text_pt.scrub(" ".join(f"{type(exc).__name__}: {exc}".split()))[:200]


_current: list[Heartbeat] = []  # this process's reporter, at most one


def start_heartbeat(
    settings: Settings,
    kind: str,
    queues: Iterable[str] = (),
    *,
    parent: str | None = None,
    db: Database | None = None,
    duties: Sequence[Duty] = (),
) -> Heartbeat | None:
    """Report this process every ``SINCRO_HEALTH_HEARTBEAT_SECONDS`` until it exits (call
    once per process; again after a fork, in the child; again for another database, which
    replaces the first). ``kind``: api, worker, beat, relay,
    watcher, signup, …; ``queues``: the broker queues it consumes. Returns None when
    heartbeats are off (``SINCRO_HEALTH_HEARTBEAT_SECONDS=0``)."""
    if settings.health_heartbeat_seconds <= 0:
        return None
    current = current_heartbeat()
    url = db.url if db is not None else settings.database_url
    if current is not None and current.pid == os.getpid():
        if current.db.url == url:
            return current
        # another database in the same process (tests build many apps in one process): the
        # old reporter ends and this one reports where the caller now works
        current.stop()
    elif current is not None:  # inherited through fork: the parent's, not ours
        current.forget_after_fork()
    heartbeat = Heartbeat(settings, kind, queues, parent=parent, db=db, duties=duties)
    _current[:] = [heartbeat.start()]
    atexit.register(heartbeat.stop)
    return heartbeat


def current_heartbeat() -> Heartbeat | None:
    return _current[0] if _current else None


def stop_heartbeat() -> None:
    """Stop this process's heartbeat (its row is marked stopped)."""
    current = current_heartbeat()
    if current is not None and current.pid == os.getpid():
        current.stop()
    _current.clear()


def install_heartbeat(state: AppState, kind: str = "api") -> None:
    """The api's hooks: start reporting when the process starts serving, stop at shutdown."""

    async def start() -> None:
        start_heartbeat(state.settings, kind)

    async def stop() -> None:
        await run_in_threadpool(stop_heartbeat)

    state.on_start.append(start)
    state.on_stop.append(stop)


def queue_sampler(settings: Settings) -> Duty:
    """The beat's duty: read every queue's depth from the broker and store the sample."""

    def sample(db: Database) -> None:
        from sincro.worker import queue_depths

        depths = queue_depths(settings.broker_url)
        with db.write() as session:
            health_store.record_depths(session, depths, utcnow())

    return Duty("queue depth sample", settings.health_queue_sample_seconds, sample)


# --- endpoints ------------------------------------------------------------------------------

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: database and broker reachable")
async def ready(state: StateDep, response: Response) -> dict[str, object]:
    """200 when the database and the broker answer, 503 (with which one failed) otherwise."""
    checks = {
        "database": await run_in_threadpool(_database_ok, state),
        "broker": await run_in_threadpool(_broker_ok, state.settings.broker_url),
    }
    ok = all(checks.values())
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "unavailable", "checks": checks}


def _broker_ok(url: str) -> bool:
    from sincro.worker import broker_reachable

    return broker_reachable(url)


def _database_ok(state: object) -> bool:
    try:
        with state.db.read() as session:  # type: ignore[attr-defined]
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


_last_depth_refresh = [0.0]


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep, request: Request) -> Response:
    """Prometheus metrics, for whom ``SINCRO_METRICS_ACCESS`` allows (public, loopback or any
    API key; default public embedded, loopback in production)."""
    await require_exposure(request, state.settings.metrics_exposure, "/metrics")
    for collect in state.on_scrape:
        collect()
    if time.monotonic() - _last_depth_refresh[0] > 5:
        _last_depth_refresh[0] = time.monotonic()
        from sincro.worker import refresh_queue_depths

        await run_in_threadpool(refresh_queue_depths, state.settings.broker_url)
    body, content_type = render()
    return Response(body, media_type=content_type)
