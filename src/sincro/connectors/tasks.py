"""Celery tasks of the ERP connectors (queues ``ingest`` and ``sync``).

``sync_source`` fans out one ``sync_entity`` per entity: product entities first (their
completion starts the others, which then run in parallel on the workers). Each task opens its
own transactions; a run's failure is recorded in ``SyncRun``, not raised.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import group

from sincro.config import get_settings
from sincro.connectors import kinds
from sincro.connectors.base import PullSync
from sincro.connectors.config import ConnectorsConfig, load_config
from sincro.tasks import task

log = logging.getLogger("sincro.connectors.tasks")


def _config() -> ConnectorsConfig:
    return load_config(get_settings().connectors_file)


def _pull_plugin(config: ConnectorsConfig, source_code: str) -> PullSync[Any] | None:
    """The plugin of an active pull-sync source, else None (logged)."""
    source = config.source(source_code)
    plugin = kinds.plugin_for(source)
    if isinstance(plugin, PullSync) and source.active:
        return plugin
    log.info("source %s (%s) is not an active pull-sync source; skipped", source_code, plugin.label)
    return None


@task("sincro.connectors.sync_source", time_limit=300)
def sync_source(source_code: str, trigger: str = "schedule") -> list[str]:
    """Start the sync of every entity of a pull-sync (REST) source on the workers."""
    config = _config()
    plugin = _pull_plugin(config, source_code)
    if plugin is None:
        return []
    phases = plugin.plan(get_settings(), config, source_code, trigger)
    if not phases:
        return []
    later = [_entity_task.si(source_code, n, trigger) for phase in phases[1:] for n in phase]
    if len(phases[0]) == 1:
        first = _entity_task.si(source_code, phases[0][0], trigger)
        for signature in later:  # run once the products are in (no result backend needed)
            first.link(signature)
        first.apply_async()
    else:  # several product entities: start everything together
        first_phase = [_entity_task.si(source_code, n, trigger) for n in phases[0]]
        group([*first_phase, *later]).apply_async()
    return [n for phase in phases for n in phase]


@task("sincro.connectors.sync_entity", time_limit=3600)
def sync_entity(source_code: str, entity: str, trigger: str = "schedule") -> str:
    """Sync one entity of a pull-sync (REST) source; returns the run's status."""
    config = _config()
    plugin = kinds.plugin_for(config.source(source_code))
    if not isinstance(plugin, PullSync):
        raise ValueError(f"source {source_code!r} is {plugin.label}, not a pull-sync source")
    return plugin.sync_entity(get_settings(), config, source_code, entity, trigger)


_entity_task: Any = sync_entity


@task("sincro.connectors.notify_alerts", time_limit=120)
def notify_alerts() -> int:
    """Deliver alerts not yet notified (webhook and e-mail); returns how many went out.

    Every domain's alerts go out here; the channels are still configured in the connectors
    file (``alerts:``), hence the task's place and name."""
    from sincro.alerts_delivery import deliver_alerts
    from sincro.connectors.alerts import ALERTS
    from sincro.connectors.schedule import alert_channels

    settings = get_settings()
    channels = alert_channels(_config())
    return len(deliver_alerts(settings, channels, ALERTS.labels).notified)


@task("sincro.connectors.check_staleness", time_limit=60)
def check_staleness() -> list[str]:
    """Flag sources whose last good data is older than their threshold, and sources whose
    file backlog is past its limits."""
    from sincro.connectors.backlog import check_backlog
    from sincro.connectors.orchestrator import check_staleness as check
    from sincro.db import get_database

    settings, config = get_settings(), _config()
    stale = check(settings, config)
    with get_database(settings.database_url).write() as session:
        check_backlog(session, settings, config)
    return stale


@task("sincro.connectors.rest_writeback", time_limit=300)
def rest_writeback(source_code: str) -> dict[str, int]:
    """Send Sincro's unacknowledged sales to a Protheus-style ERP."""
    from sincro.connectors.rest.writeback import run_writeback

    report = run_writeback(get_settings(), _config(), source_code)
    return {
        "created": len(report.created),
        "acknowledged": len(report.acknowledged),
        "retrying": len(report.retrying),
        "failed": len(report.failed),
    }
