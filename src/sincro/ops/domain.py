"""Operação: the services' health (heartbeats, queue depths, figures) and its alerts.

The heartbeats are a kernel capability (:mod:`sincro.health`, :mod:`sincro.health_store`):
every process reports. This domain reads them: ``GET /v1/health/services``, the console's
"Saúde" page, the beat's alert check and the pruning of old rows."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="ops",
    label="Operação",
    models=("sincro.health_store",),
    routers=("sincro.ops.endpoints:router",),
    console_routers=("sincro.console.ops.routes:router",),
    nav=(NavEntry("health", "Saúde", "console_health", frozenset({"admin"}), order=95),),
    task_modules=("sincro.ops.tasks",),
    beat="sincro.ops.schedule:beat_entries",
    runtime="sincro.ops.runtime:install",
)
