"""The source kinds Sincro knows: one plugin object per kind (:mod:`sincro.connectors.base`).

Everything that depends on a source's kind asks here (beat entries, ``sincro sync`` commands,
the processes and first jobs of ``sincro serve``, the console's labels) instead of comparing
kind strings. A new kind is a module with its config model and plugin object, one line in
``PLUGINS``, its config model in the union of :mod:`sincro.connectors.config` and its name in
``models.SourceKind`` (``tests/connectors/test_kinds.py`` fails until all three agree).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sincro.connectors.base import BeatEntries, Command, ConnectorPlugin, StartupJob
from sincro.connectors.rest.json_rest import JSON_REST
from sincro.connectors.rest.protheus_rest import PROTHEUS_REST
from sincro.connectors.sap_files.plugin import SAP_FILES
from sincro.errors import InvalidInput

if TYPE_CHECKING:
    import typer

    from sincro.config import Settings
    from sincro.connectors.base import Source
    from sincro.connectors.config import ConnectorsConfig

PLUGINS: tuple[ConnectorPlugin[Any], ...] = (SAP_FILES, PROTHEUS_REST, JSON_REST)
KINDS: dict[str, ConnectorPlugin[Any]] = {p.kind: p for p in PLUGINS}


class UnknownKind(InvalidInput):
    """A source kind no plugin handles."""


def plugin(kind: str) -> ConnectorPlugin[Any]:
    """The plugin of ``kind``; :class:`UnknownKind` names the known kinds otherwise."""
    try:
        return KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        message = f"unknown connector kind {kind!r} (known: {known})"
        raise UnknownKind(message, field="kind") from None


def plugin_for(source: Source) -> ConnectorPlugin[Any]:
    """The plugin of a configured source."""
    return plugin(source.kind)


def labels() -> dict[str, str]:
    """Each kind's label for people (pt-BR), e.g. ``{"sap_files": "SAP (arquivos)", ...}``."""
    return {p.kind: p.label for p in PLUGINS}


def active_sources(
    config: ConnectorsConfig, capability: type[ConnectorPlugin[Any]] = ConnectorPlugin
) -> list[tuple[ConnectorPlugin[Any], Any]]:
    """The active sources whose kind has ``capability`` (default: every one), each with its
    plugin."""
    pairs = [(plugin_for(s), s) for s in config.sources if s.active]
    return [(p, s) for p, s in pairs if isinstance(p, capability)]


def beat_entries(config: ConnectorsConfig) -> BeatEntries:
    """The beat entries every active source's plugin asks for."""
    entries: BeatEntries = {}
    for kind_plugin, source in active_sources(config):
        entries.update(kind_plugin.beat_entries(source))
    return entries


def task_modules() -> list[str]:
    """The modules of the connectors' Celery tasks, for the worker's ``include``: the shared
    tasks (pull sync, alerts, staleness, REST write-back) and each kind's own."""
    own = [m for p in PLUGINS for m in p.task_modules]
    return ["sincro.connectors.tasks", *dict.fromkeys(own)]


def register_cli(app: typer.Typer) -> None:
    """Add every kind's ``sincro sync`` commands to ``app``."""
    for kind_plugin in PLUGINS:
        kind_plugin.register_cli(app)


def serve_commands(
    settings: Settings | None = None, me: Sequence[str] | None = None
) -> dict[str, Command]:
    """Child processes ``sincro serve`` starts for the configured connectors (e.g. the SAP
    inbox watcher when an active sap_files source exists), by name."""
    me = list(me or [sys.executable, "-m", "sincro.cli"])
    commands: dict[str, Command] = {}
    for kind_plugin in {p.kind: p for p, _ in active_sources(_config(settings))}.values():
        commands.update(kind_plugin.serve_commands(me))
    return commands


def startup_jobs(settings: Settings | None = None) -> list[StartupJob]:
    """Tasks to queue once the services are up (a first sync of every REST source)."""
    return [
        job
        for kind_plugin, source in active_sources(_config(settings))
        for job in kind_plugin.startup_jobs(source)
    ]


def queue_startup_jobs(settings: Settings | None = None) -> None:
    """Queue :func:`startup_jobs` on the broker (``sincro serve``/``sincro demo`` on ready)."""
    from sincro.worker import celery_app

    for job in startup_jobs(settings):
        celery_app.send_task(job.task, args=job.args)


def _config(settings: Settings | None) -> ConnectorsConfig:
    from sincro.config import get_settings
    from sincro.connectors.config import load_config

    return load_config((settings or get_settings()).connectors_file)
