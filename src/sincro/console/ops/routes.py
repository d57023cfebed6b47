"""The console's "Saúde" page (admin): every process that reports a heartbeat, with its status,
version, queues, last beat (local time) and recent errors; the broker queues' depths with a
chart of the last hour; the figures the domains declared. ``static/health.js`` refreshes the
live part every 10 s from ``/console/health/live`` (a fragment rendered by the same template
code). Everything is read through :func:`sincro.ops.service.overview`, the same as
``GET /v1/health/services``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sincro.console.formatting import datetime_br
from sincro.console.routes import ConsoleUserDep, app_state, render
from sincro.ops import service
from sincro.ops.schemas import InstanceOut, ServicesOut

router = APIRouter(prefix="/console", include_in_schema=False)

REFRESH_MS = 10_000
FRAGMENT_HEADER = "X-Sincro-Fragment"
KINDS = {
    "api": "API",
    "worker": "Worker",
    "beat": "Agendador (beat)",
    "relay": "Relay de eventos",
    "watcher": "Observador de pastas",
    "signup": "Cadastro",
}
STATUS = {
    "ok": ("no ar", "ok"),
    "stale": ("atrasado", "warn"),
    "down": ("fora do ar", "bad"),
    "stopped": ("parado", "muted"),
}


def _groups(instances: list[InstanceOut]) -> list[dict[str, Any]]:
    """Top-level processes, each with its live pool processes (a worker's) under it and the
    count of those gone (a pool replaces a process killed at its time limit: no alert, and
    no red row for a day either)."""
    tops: dict[str, dict[str, Any]] = {
        i.instance: {"row": i, "children": [], "gone": 0} for i in instances if i.parent is None
    }
    orphans = []
    for instance in instances:
        if instance.parent is None:
            continue
        group = tops.get(instance.parent)
        if group is None:
            orphans.append({"row": instance, "children": [], "gone": 0})
        elif instance.status in service.LIVE:
            group["children"].append(instance)
        else:
            group["gone"] += 1
    return [*tops.values(), *orphans]


def _chart(overview: ServicesOut, zone: str) -> dict[str, Any]:
    moments = sorted({p.at for q in overview.queues for p in q.history})
    index = {at: n for n, at in enumerate(moments)}
    series = []
    for queue in overview.queues:
        data: list[int | None] = [None] * len(moments)
        for point in queue.history:
            data[index[point.at]] = point.depth
        series.append({"label": queue.queue, "data": data})
    labels = [datetime_br(at, zone)[-5:] for at in moments]  # HH:MM; health.js: the viewer's
    times = [at.isoformat() for at in moments]
    return {
        "type": "line",
        "labels": labels,
        "times": times,
        "series": series,
        "y_label": "mensagens",
    }


def _context(request: Request) -> dict[str, Any]:
    state = app_state(request)
    with state.db.read() as session:
        overview = service.overview(session, state.settings)
    counts = {key: 0 for key in STATUS}
    for instance in overview.instances:
        counts[instance.status] += 1
    return {
        "overview": overview,
        "groups": _groups(overview.instances),
        "counts": counts,
        "chart_spec": _chart(overview, state.settings.console_time_zone),
        "kinds": KINDS,
        "status_labels": STATUS,
        "ago": service.duration_pt,
        "refresh_ms": REFRESH_MS,
        "down_after": state.settings.health_down_after_seconds,
    }


@router.get("/health", name="console_health")
def health_page(request: Request, _user: ConsoleUserDep) -> Response:
    """The "Saúde" page."""
    return render(request, "ops/health.html", _context(request), section="health")


@router.get("/health/live", name="console_health_live")
def health_live(request: Request, _user: ConsoleUserDep) -> Response:
    """The page's live part alone, for the periodic refresh (marked with a header, so the
    script can tell it from a sign-in page or a 403)."""
    response = render(request, "ops/_live.html", _context(request), section="health")
    if response.status_code == 200:
        response.headers[FRAGMENT_HEADER] = "health"
    return response
