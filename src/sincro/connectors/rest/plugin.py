"""Pull sync of a REST ERP, shared by the two REST kinds (``protheus_rest``, ``json_rest``):
they differ in their config model, their mapping file and whether they take write-backs."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from sincro.connectors.base import BeatEntries, PullSync, cron
from sincro.connectors.rest.config import JsonRestSource, ProtheusRestSource

if TYPE_CHECKING:
    import typer

    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig

R = TypeVar("R", ProtheusRestSource, JsonRestSource)


class RestPullSync(PullSync[R]):
    """Entities of a REST ERP, page by page through the source's mapping file
    (:mod:`sincro.connectors.orchestrator`)."""

    def beat_entries(self, source: R) -> BeatEntries:
        """A sync of the whole source on its cron, and of each entity with a cron of its own."""
        entries: BeatEntries = {}
        if source.schedule:
            entries[f"sync-{source.code}"] = {
                "task": "sincro.connectors.sync_source",
                "schedule": cron(source.schedule),
                "args": (source.code, "schedule"),
            }
        for entity in source.entities:
            if entity.active and entity.schedule:
                entries[f"sync-{source.code}-{entity.name}"] = {
                    "task": "sincro.connectors.sync_entity",
                    "schedule": cron(entity.schedule),
                    "args": (source.code, entity.name, "schedule"),
                }
        return entries

    def register_cli(self, app: typer.Typer) -> None:
        """``sincro sync run``."""
        from sincro.connectors.rest import cli

        cli.register(app)

    def plan(
        self, settings: Settings, config: ConnectorsConfig, code: str, trigger: str
    ) -> list[list[str]]:
        """Entities in phases (products first). On a schedule, entities with a schedule of
        their own are left to it."""
        from sincro.connectors.orchestrator import SourceRuntime, _phases

        with SourceRuntime(settings, config, code) as rt:
            source = rt.source
            names = [
                e.name
                for e in source.entities
                if e.active and not (trigger == "schedule" and e.schedule and source.schedule)
            ]
            return _phases(rt, names)

    def sync_entity(
        self, settings: Settings, config: ConnectorsConfig, code: str, entity: str, trigger: str
    ) -> str:
        """Sync one entity now; the run's status."""
        from sincro.connectors.orchestrator import SourceRuntime, sync_entity as run

        with SourceRuntime(settings, config, code) as rt:
            return str(run(rt, entity, trigger).status)
