"""``sincro sync run``: sync the REST ERP sources now, in this process. Added by
:func:`register`, which the REST plugins (``protheus_rest``, ``json_rest``) call."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sincro.cli_common import console, fail
from sincro.connectors.cli_support import load

if TYPE_CHECKING:
    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig


def register(app: typer.Typer) -> None:
    """Add ``sincro sync run`` to ``app`` (once, though both REST kinds ask)."""
    if not any(c.name == "run" for c in app.registered_commands):
        app.command("run")(sync_run)


def sync_run(
    source: Annotated[str | None, typer.Option(help="Only this source (code)")] = None,
    entity: Annotated[list[str] | None, typer.Option(help="Only this entity (repeatable)")] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="One source, entity and page at a time")
    ] = False,
) -> None:
    """Sync REST ERP sources now, in this process, with a progress bar per entity."""
    from sincro.connectors.orchestrator import run_source, run_sources

    settings, config = load()
    codes = _rest_codes(settings, config, source)
    bars: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console) as progress:

        def report(src: str, ent: str, done: int, total: int | None) -> None:
            with lock:
                if (src, ent) not in bars:
                    bars[(src, ent)] = progress.add_task(f"{src} · {ent}", total=total)
                progress.update(bars[(src, ent)], completed=done, total=total or done)

        if entity:
            results = [
                run_source(
                    settings, config, c, "manual", not sequential, entities=entity, progress=report
                )
                for c in codes
            ]
        else:
            results = run_sources(
                settings, config, codes, "manual", not sequential, progress=report
            )
    _print_results(results, time.perf_counter() - started)
    if any(e.status == "failed" for r in results for e in r.entities):
        raise typer.Exit(1)


def _rest_codes(settings: Settings, config: ConnectorsConfig, only: str | None) -> list[str]:
    """The active REST sources, or ``only`` (which must be a REST source)."""
    from sincro.connectors.kinds import plugin_for
    from sincro.connectors.rest.config import RestSource

    if only is None:
        codes = [s.code for s in config.sources if s.active and isinstance(s, RestSource)]
        if not codes:
            fail(f"no active REST source in the connectors file ({settings.connectors_file})")
        return codes
    try:
        picked = config.source(only)
    except KeyError:
        fail(f"no source {only!r} in {settings.connectors_file}")
    if not isinstance(picked, RestSource):
        label = plugin_for(picked).label
        fail(f"source {only!r} is {label}; this command syncs REST ERP sources")
    return [only]


def _print_results(results: list[Any], seconds: float) -> None:
    table = Table(title=f"Sincronização concluída em {seconds:.1f}s")
    for column in ("origem", "entidade", "status", "lidos", "aplicados", "rejeitados", "erro"):
        table.add_column(column)
    for result in results:
        for e in result.entities:
            colour = {"succeeded": "green", "partial": "yellow"}.get(str(e.status), "red")
            table.add_row(
                e.source,
                e.entity,
                f"[{colour}]{e.status}[/]",
                str(e.records_in),
                str(e.applied),
                str(e.rejected),
                (e.error or "")[:80],
            )
    console.print(table)
