"""``sincro sync …``: the ERP connectors' commands.

``sync_app`` holds the commands every kind shares (``status``, ``writeback``); each kind's
plugin adds its own (``run`` for the REST ERPs; ``watch``, ``files``, ``ingest``, ``replay`` for
the SAP file drops) through :func:`sincro.connectors.kinds.register_cli`, called explicitly
below: no module registers itself by being imported.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from sincro.cli_common import console, fail
from sincro.connectors import kinds
from sincro.connectors.base import WriteBack
from sincro.connectors.cli_support import load

sync_app = typer.Typer(help="ERP sync: sources, runs, files, replays.", no_args_is_help=True)


def _age(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "—"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@sync_app.command("status")
def sync_status() -> None:
    """Each source: status, last run, next run, breaker, data age and last error."""
    from sincro.connectors.models import SyncSource
    from sincro.connectors.resilience import breaker_for
    from sincro.connectors.status import next_runs
    from sincro.db import database_for, utcnow
    from sincro.text_pt import datetime_br

    settings, config = load()
    db = database_for(settings)
    now = utcnow()
    table = Table(title="Origens ERP")
    for column in ("origem", "status", "última execução", "próxima", "disjuntor", "idade", "erro"):
        table.add_column(column)
    with db.read() as session:
        rows = {r.code: r for r in session.query(SyncSource).all()}
    scheduled = next_runs(config, now)
    for source in config.sources:
        row = rows.get(source.code)
        upcoming = datetime_br(scheduled[source.code]) if source.code in scheduled else "—"
        breaker = "—"
        if hasattr(source, "breaker"):
            breaker = (
                breaker_for(
                    settings.redis_url,
                    settings.redis_prefix,
                    db,
                    source.code,
                    failure_threshold=source.breaker.failure_threshold,
                    open_seconds=source.breaker.open_seconds,
                    alerts=False,
                )
                .snapshot()
                .state
            )
        status = row.status if row else "unknown"
        colour = {"ok": "green", "degraded": "yellow", "stale": "yellow"}.get(status, "red")
        table.add_row(
            source.code,
            f"[{colour}]{status}[/]",
            datetime_br(row.last_run_at) if row and row.last_run_at else "—",
            upcoming,
            breaker,
            _age(row.data_as_of if row else None, now),
            ((row.last_error or "") if row else "")[:60],
        )
    console.print(table)


@sync_app.command("writeback")
def sync_writeback(source: Annotated[str, typer.Option(help="Source code")]) -> None:
    """Collect write-backs for new Sincro movements and send the due ones to the ERP now."""
    settings, config = load()
    try:
        plugin = kinds.plugin_for(config.source(source))
    except KeyError:
        fail(f"no source {source!r} in {settings.connectors_file}")
    if not isinstance(plugin, WriteBack):
        fail(f"source {source!r} ({plugin.label}) does not write back to its ERP")
    done = plugin.write_back(settings, config, source)
    console.print(
        f"criados {done.created}, enviados {done.sent}, confirmados {done.acknowledged}, "
        f"a repetir {done.retrying}, com falha {done.failed}"
    )


kinds.register_cli(sync_app)
