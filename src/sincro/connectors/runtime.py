"""What ``sincro serve`` runs for the connectors: the SAP drop-folder watcher when a SAP
source is configured, and a first sync of every REST source once the services are up."""

from __future__ import annotations

import sys

from sincro.config import Settings


def _active_sources(settings: Settings) -> list[tuple[str, str]]:
    from sincro.connectors.config import load_config

    return [(s.code, s.kind) for s in load_config(settings.connectors_file).sources if s.active]


def children(settings: Settings) -> dict[str, list[str]]:
    if any(kind == "sap_files" for _, kind in _active_sources(settings)):
        return {"watch": [sys.executable, "-m", "sincro.cli", "sync", "watch"]}
    return {}


def start_rest_syncs(settings: Settings) -> None:
    """Queue one sync of every REST source now, rather than waiting for its schedule."""
    from sincro.connectors.orchestrator import REST_KINDS
    from sincro.worker import celery_app

    for code, kind in _active_sources(settings):
        if kind in REST_KINDS:
            celery_app.send_task("sincro.connectors.sync_source", args=(code, "manual"))
