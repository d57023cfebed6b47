"""The ops domain's tasks (kernel ``default`` queue): the health check and the pruning."""

from __future__ import annotations

from sincro.tasks import task


@task("sincro.ops.check_health", time_limit=60)
def check_health() -> dict[str, list[str]] | None:
    """Raise or resolve the alerts of silent services and backed-up queues (None when an api
    process ran the check moments ago)."""
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.ops import service
    from sincro.sharedstate import process_shared_state

    settings, db = get_settings(), get_database()
    result = service.check_if_due(db, settings, process_shared_state(settings))
    return None if result is None else {"raised": result.raised, "resolved": result.resolved}


@task("sincro.ops.prune_health", time_limit=300)
def prune_health() -> list[int]:
    """Forget instances gone for ``SINCRO_HEALTH_KEEP_HOURS`` and older depth samples."""
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.ops import service

    with get_database().write() as session:
        return list(service.prune(session, get_settings()))
