"""The Celery application: queues, routes, schedules, and broker checks.

Embedded mode uses Celery's SQLAlchemy transport on a SQLite file; production uses RabbitMQ.
Tasks are named, routed to a queue, time-limited, and retried with jittered exponential
backoff only on transient database or broker errors.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu import Connection, Queue
from sqlalchemy.exc import OperationalError

from sincro.config import get_settings

log = logging.getLogger("sincro.worker")
QUEUES = ("default", "inventory", "events", "ingest", "sync")
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    TimeoutError,
)


def create_celery() -> Celery:
    settings = get_settings()
    app = Celery(
        "sincro",
        broker=settings.broker_url,
        include=[
            "sincro.inventory.tasks",
            "sincro.feed.tasks",
            "sincro.connectors.tasks",
        ],
    )
    app.conf.update(
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes={
            "sincro.inventory.*": {"queue": "inventory"},
            "sincro.feed.*": {"queue": "events"},
            "sincro.connectors.ingest.*": {"queue": "ingest"},
            "sincro.connectors.*": {"queue": "sync"},
        },
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "expire-reservations": {
                "task": "sincro.inventory.expire_reservations",
                "schedule": settings.expiry_sweep_seconds,
            },
            "verify-ledger": {"task": "sincro.inventory.verify_ledger", "schedule": 3600.0},
            "dispatch-webhooks": {"task": "sincro.feed.dispatch_webhooks", "schedule": 1.0},
        },
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
    )
    from sincro.connectors.schedule import beat_entries

    app.conf.beat_schedule.update(beat_entries())
    return app


celery_app = create_celery()


def broker_reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def queue_depths(url: str) -> dict[str, int]:
    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=2) as conn:
        channel: Any = conn.default_channel
        for name in QUEUES:
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except Exception:
                depths[name] = 0
    return depths


def refresh_queue_depths(url: str) -> None:
    from sincro.metrics import QUEUE_DEPTH

    try:
        for name, depth in queue_depths(url).items():
            QUEUE_DEPTH.labels(name).set(depth)
    except Exception:
        log.warning("could not read queue depths from the broker")
