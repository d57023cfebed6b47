"""The ops domain's tasks (kernel ``default`` queue): the health check and the pruning."""

from __future__ import annotations

from sincro.tasks import task


@task("sincro.ops.check_health", time_limit=60)
def check_health() -> dict[str, list[str]]:
    """Raise or resolve the alerts of silent services and backed-up queues."""
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.ops import service

    with get_database().write() as session:
        result = service.check(session, get_settings())
    return {"raised": result.raised, "resolved": result.resolved}


@task("sincro.ops.prune_health", time_limit=300)
def prune_health() -> list[int]:
    """Forget instances gone for ``SINCRO_HEALTH_KEEP_HOURS`` and older depth samples."""
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.ops import service

    with get_database().write() as session:
        return list(service.prune(session, get_settings()))
