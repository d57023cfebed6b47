"""The Celery application: queues, routes, schedules, and broker checks.

Embedded mode uses Celery's SQLAlchemy transport on a SQLite file; production uses RabbitMQ.
Tasks are named, routed to a queue, time-limited, and retried with jittered exponential
backoff only on transient database or broker errors.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery, signals
from kombu import Connection, Queue
from sqlalchemy.exc import OperationalError

from sincro import embedded_broker
from sincro.config import Settings, get_settings
from sincro.domain import resolve_callable
from sincro.domains import installed

log = logging.getLogger("sincro.worker")
embedded_broker.install()  # queue declarations from several processes at once (see there)
KERNEL_QUEUES = ("default",)
KERNEL_TASK_MODULES = ("sincro.maintenance_tasks",)  # WAL checkpoint, log rotation
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    TimeoutError,
)


def queues() -> tuple[str, ...]:
    """Every queue: the kernel's ``default`` and each installed domain's, in list order."""
    names = list(KERNEL_QUEUES)
    for domain in installed():
        names.extend(q for q in domain.queues if q not in names)
    return tuple(names)


def task_routes() -> dict[str, dict[str, str]]:
    """Task-name globs to queues, from the domains (a domain lists its narrower globs first)."""
    return {
        pattern: {"queue": queue}
        for domain in installed()
        for pattern, queue in domain.task_routes.items()
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every domain's beat entries, with their ``gate`` and ``wake`` keys (:mod:`sincro.beat`;
    Celery's configuration gets them without). A domain's ``beat`` callable lives in a module
    that does not import its tasks (tasks import this module's ``celery_app``)."""
    from sincro.maintenance import beat_entries as kernel_entries

    schedule: dict[str, dict[str, Any]] = kernel_entries(settings)
    for domain in installed():
        entries = resolve_callable(domain.beat)
        if entries is not None:
            schedule.update(entries(settings))
    return schedule


def create_celery() -> Celery:
    from sincro.beat import split_entries

    settings = get_settings()
    schedule, _, _ = split_entries(beat_schedule(settings))
    app = Celery(
        "sincro",
        broker=settings.broker_url,
        include=[
            *KERNEL_TASK_MODULES,
            *(module for domain in installed() for module in domain.task_modules),
        ],
    )
    app.conf.update(
        task_default_queue="default",
        task_queues=[Queue(name) for name in queues()],
        task_routes=task_routes(),
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=schedule,
        beat_scheduler="sincro.beat:Scheduler",  # gated entries and wake-ups
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
    )
    return app


celery_app = create_celery()


def broker_reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def queue_depths(url: str, names: Sequence[str] | None = None) -> dict[str, int]:
    """Messages waiting in each queue (default: every queue; one the broker does not have
    yet: 0). A failed passive declare closes the channel on RabbitMQ, so the next queue gets
    a fresh one; a broker that cannot be reached raises."""
    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=2) as conn:
        channel: Any = conn.channel()
        try:
            for name in queues() if names is None else names:
                try:
                    declared = channel.queue_declare(queue=name, passive=True)
                    depths[name] = int(declared.message_count)
                except conn.connection_errors:
                    raise
                except Exception:
                    depths[name] = 0
                    channel.close()
                    channel = conn.channel()
        finally:
            channel.close()
    return depths


def refresh_queue_depths(url: str) -> None:
    from sincro.metrics import QUEUE_DEPTH

    try:
        for name, depth in queue_depths(url).items():
            QUEUE_DEPTH.labels(name).set(depth)
    except Exception:
        log.warning("could not read queue depths from the broker")


# --- queue lag: the time between a task's publication and its start ---------------------------

SENT_AT = "sincro_sent_at"


@signals.before_task_publish.connect
def _stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp when the task may start: now, or its ``eta`` (a countdown or a retry's backoff
    is a wait by design, not queue lag); a retry is stamped again."""
    if headers is None:
        return
    due = time.time()
    eta = headers.get("eta")
    if isinstance(eta, str):
        with contextlib.suppress(ValueError):
            due = max(due, datetime.fromisoformat(eta).timestamp())
    headers[SENT_AT] = due


@signals.task_prerun.connect
def _observe_queue_wait(task: Any = None, **_: Any) -> None:
    from sincro.metrics import QUEUE_WAIT

    request = getattr(task, "request", None)
    sent = getattr(request, SENT_AT, None) if request is not None else None
    if not isinstance(sent, int | float):
        return
    queue = ((getattr(request, "delivery_info", None) or {}).get("routing_key")) or "?"
    QUEUE_WAIT.labels(str(queue)[:80]).observe(max(0.0, time.time() - sent))


# --- heartbeats (sincro.health): workers, their pool processes and beat report themselves ---


def _consumed(app: Any) -> list[str]:
    try:
        return sorted(app.amqp.queues.consume_from or app.amqp.queues)
    except Exception:
        return list(queues())


@signals.worker_init.connect
def _lower_priority(**_: Any) -> None:
    """Yield the CPU to interactive services (``SINCRO_WORKER_NICE``); pool processes inherit."""
    import os

    target = get_settings().worker_nice
    current = os.nice(0)
    if target > current:
        os.nice(target - current)


def imported_inside_tasks() -> list[str]:
    """The ``sincro`` modules the task modules import inside their functions (found in their
    source), submodules named by ``from package import name`` included."""
    found: dict[str, None] = {}
    for name in (*KERNEL_TASK_MODULES, *(m for d in installed() for m in d.task_modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found[node.module] = None
                    found.update({f"{node.module}.{alias.name}": None for alias in node.names})
                elif isinstance(node, ast.Import):
                    found.update({alias.name: None for alias in node.names})
    return [name for name in found if name.startswith("sincro.") and _is_module(name)]


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@signals.worker_init.connect
def _import_before_fork(**_: Any) -> None:
    """Import in the parent, before the pool forks, what the tasks import when they run (and
    the Redis client library when Redis is configured): every pool process would otherwise
    import it again at its first run of each task — 50 to 300 ms of CPU per module and process,
    most of an idle worker's first minutes — instead of sharing the parent's copy."""
    for name in imported_inside_tasks():
        try:
            importlib.import_module(name)
        except Exception:  # the task will say what is wrong when it runs
            log.debug("not imported before the fork: %s", name, exc_info=True)
    if get_settings().redis_url:
        importlib.import_module("redis.asyncio")


@signals.worker_ready.connect
def _worker_heartbeat(sender: Any = None, **_: Any) -> None:
    from sincro import health

    health.start_heartbeat(get_settings(), kind="worker", queues=_consumed(celery_app))


@signals.worker_process_init.connect
def _pool_process_heartbeat(**_: Any) -> None:
    import os
    import socket

    from sincro import health

    parent = f"{socket.gethostname()[:100]}:{os.getppid()}"
    settings = get_settings()
    health.start_heartbeat(settings, kind="worker", queues=_consumed(celery_app), parent=parent)


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    from sincro import health

    health.stop_heartbeat()


@signals.beat_init.connect
def _beat_heartbeat(**_: Any) -> None:
    from sincro import health

    settings = get_settings()
    health.start_heartbeat(settings, kind="beat", duties=[health.queue_sampler(settings)])
