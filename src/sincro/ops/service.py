"""The ops domain's one door: the services' health as people and the API see it, the alert
check and the pruning. Reads the kernel's heartbeat tables (:mod:`sincro.health_store`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro import health, health_store
from sincro.alerts import Alert, DomainAlerts
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.health_store import ServiceHeartbeat
from sincro.ops.schemas import (
    DepthPoint,
    ErrorOut,
    FigureOut,
    InstanceOut,
    QueueOut,
    ServicesOut,
)
from sincro.sharedstate import SharedState
from sincro.text_pt import integer_br

ALERTS = DomainAlerts(
    "ops",
    {"service_down": "serviço parou de reportar", "queue_backlog": "fila acumulando"},
)
CHECK_LOCK = "ops:health-check"
CHECK_SECONDS = 30.0
DOWN_KEY = "health:down:"
QUEUE_KEY = "health:queue:"
LIVE = ("ok", "stale")
MAX_HISTORY_MINUTES = 24 * 60


def overview(
    session: Session,
    settings: Settings,
    now: dt.datetime | None = None,
    history_minutes: int = 60,
) -> ServicesOut:
    """Every instance with its status, every sampled queue with its recent depths, and the
    declared figures summed (or maxed) over the live instances that report them."""
    now = now or utcnow()
    rows = health_store.heartbeats(session)
    instances = [_instance(row, now, settings) for row in rows]
    since = now - dt.timedelta(minutes=max(0, min(history_minutes, MAX_HISTORY_MINUTES)))
    history: dict[str, list[DepthPoint]] = defaultdict(list)
    for queue, at, depth in health_store.depth_history(session, since):
        history[queue].append(DepthPoint(at=at, depth=depth))
    queues = [
        QueueOut(
            queue=q.queue,
            depth=q.depth,
            sampled_at=q.sampled_at,
            above_limit_since=q.above_since,
            backed_up=_backed_up(q, now, settings),
            history=history.get(q.queue, []),
        )
        for q in health_store.latest_depths(session, settings.health_queue_max_depth)
    ]
    return ServicesOut(
        generated_at=now,
        queue_limit=settings.health_queue_max_depth,
        instances=instances,
        queues=queues,
        figures=combined_figures(instances),
    )


def _instance(row: ServiceHeartbeat, now: dt.datetime, settings: Settings) -> InstanceOut:
    return InstanceOut(
        instance=row.instance,
        kind=row.kind,
        host=row.host,
        pid=row.pid,
        parent=row.parent,
        status=health_store.status_of(row, now, settings.health_down_after_seconds),
        version=row.version,
        queues=list(row.queues or []),
        started_at=row.started_at,
        last_seen=row.last_seen,
        stopped_at=row.stopped_at,
        silent_seconds=round(max(0.0, (now - row.last_seen).total_seconds()), 1),
        errors=[ErrorOut.model_validate(e) for e in row.errors or []],
        figures={str(k): float(v) for k, v in (row.figures or {}).items()},
    )


def combined_figures(instances: list[InstanceOut]) -> list[FigureOut]:
    """Each figure some live instance reports, combined as its declaration says (a figure
    this process has no declaration for is summed and labelled by its key)."""
    declared = {f.key: f for f in health.figures()}
    values: dict[str, list[float]] = defaultdict(list)
    for instance in instances:
        if instance.status in LIVE:
            for key, value in instance.figures.items():
                values[key].append(value)
    order = list(declared) + sorted(k for k in values if k not in declared)
    out = []
    for key in order:
        if key not in values:
            continue
        figure = declared.get(key)
        combine = max if figure is not None and figure.combine == "max" else sum
        out.append(
            FigureOut(
                key=key,
                label=figure.label if figure else key,
                kind=figure.kind if figure else "value",
                unit=figure.unit if figure else "",
                value=round(combine(values[key]), 4),
                instances=len(values[key]),
            )
        )
    return out


def _backed_up(q: health_store.QueueDepth, now: dt.datetime, settings: Settings) -> bool:
    if q.above_since is None:
        return False
    return (now - q.above_since).total_seconds() >= settings.health_queue_backlog_seconds


def check_if_due(
    db: Database, settings: Settings, shared: SharedState, every: float | None = None
) -> CheckResult | None:
    """Run :func:`check` in its own transaction unless some process (the beat's task, an api
    process) ran it in the last ``every`` seconds: a shared lock taken for most of ``every``
    and left to expire. None when it was not due."""
    if shared.acquire(CHECK_LOCK, 0.9 * (every or CHECK_SECONDS)) is None:
        return None
    with db.write() as session:
        return check(session, settings)


@dataclass
class CheckResult:
    raised: list[str] = field(default_factory=list)  # dedupe keys of the conditions that hold
    resolved: list[str] = field(default_factory=list)


def check(session: Session, settings: Settings, now: dt.datetime | None = None) -> CheckResult:
    """Raise an alert per service instance that stopped reporting (silent for
    ``SINCRO_HEALTH_DOWN_AFTER_SECONDS`` without a clean stop, and not replaced by a newer
    instance of the same kind, host and queues) and per queue above
    ``SINCRO_HEALTH_QUEUE_MAX_DEPTH`` for ``SINCRO_HEALTH_QUEUE_BACKLOG_SECONDS``; resolve
    those whose condition no longer holds (back, replaced, stopped, pruned, drained). A
    worker's pool processes are replaced by their worker and raise nothing themselves."""
    now = now or utcnow()
    result = CheckResult()
    rows = health_store.heartbeats(session)
    status = {
        row.instance: health_store.status_of(row, now, settings.health_down_after_seconds)
        for row in rows
    }
    for row in rows:
        if row.parent is not None or status[row.instance] != "down" or _replaced(row, rows, status):
            continue
        key = f"{DOWN_KEY}{row.instance}"
        silent = int((now - row.last_seen).total_seconds())
        queues = f" (filas: {', '.join(row.queues)})" if row.queues else ""
        ALERTS.raise_alert(
            session,
            "service_down",
            f"O serviço {row.kind} em {row.instance}{queues} parou de reportar há "
            f"{duration_pt(silent)}.",
            source=row.kind,
            severity="critical",
            details={"instance": row.instance, "last_seen": row.last_seen.isoformat()},
            dedupe_key=key,
        )
        result.raised.append(key)
    for q in health_store.latest_depths(session, settings.health_queue_max_depth):
        if not _backed_up(q, now, settings):
            continue
        key = f"{QUEUE_KEY}{q.queue}"
        assert q.above_since is not None
        since = int((now - q.above_since).total_seconds())
        ALERTS.raise_alert(
            session,
            "queue_backlog",
            f"A fila {q.queue} tem {integer_br(q.depth)} mensagens aguardando, acima de "
            f"{integer_br(settings.health_queue_max_depth)} há {duration_pt(since)}.",
            source=q.queue[:40],
            severity="warning",
            details={"queue": q.queue, "depth": q.depth},
            dedupe_key=key,
        )
        result.raised.append(key)
    holding = set(result.raised)
    stale = [key for key in _open_keys(session) if key not in holding]
    if stale:
        ALERTS.resolve_alerts(session, *stale)
    result.resolved = sorted(stale)
    return result


def _replaced(
    row: ServiceHeartbeat, rows: list[ServiceHeartbeat], status: Mapping[str, str]
) -> bool:
    """A newer live instance of the same kind, host and queues took over."""
    return any(
        other.kind == row.kind
        and other.host == row.host
        and sorted(other.queues or []) == sorted(row.queues or [])
        and other.started_at >= row.last_seen
        and status[other.instance] in LIVE
        for other in rows
    )


def _open_keys(session: Session) -> list[str]:
    query = select(Alert.dedupe_key).where(
        Alert.resolved_at.is_(None),
        Alert.dedupe_key.like(f"{DOWN_KEY}%") | Alert.dedupe_key.like(f"{QUEUE_KEY}%"),
    )
    return [key for key in session.scalars(query) if key]


def duration_pt(seconds: float) -> str:
    """A span in pt-BR: "45 s", "12 min", "3 h 05 min"."""
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def prune(session: Session, settings: Settings, now: dt.datetime | None = None) -> tuple[int, int]:
    """Forget instances silent for ``SINCRO_HEALTH_KEEP_HOURS`` and older queue samples;
    returns (instances, samples) deleted."""
    before = (now or utcnow()) - dt.timedelta(hours=settings.health_keep_hours)
    return health_store.prune(session, before)
