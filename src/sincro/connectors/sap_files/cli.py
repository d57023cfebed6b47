"""``sincro sync`` commands of the SAP file drops, added by :func:`register` (called by the
sap_files plugin).

- ``sincro sync watch [--source CODE] [--inline]``: watch the inboxes (folder events + polling)
  until Ctrl+C; files are queued to the workers, or processed here with ``--inline``.
- ``sincro sync files [--source CODE] [--state STATE]``: the file ledger.
- ``sincro sync ingest PATH --source CODE``: process one file now, with a progress bar.
- ``sincro sync replay FILE_ID``: queue a failed file again once it is put back.

Write-back now (``sincro sync writeback --source CODE``) is the connectors' shared command; the
simulated SAP is ``sincro simulate sap`` (:mod:`sincro.simulators.cli`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sincro.cli_common import console, fail, progress_bar
from sincro.connectors.cli_support import stop_on_signals
from sincro.errors import SincroError


def register(app: typer.Typer) -> None:
    """Add the SAP file drops' commands to ``sincro sync``."""
    app.command("watch")(watch)
    app.command("files")(files)
    app.command("ingest")(ingest)
    app.command("replay")(replay)


def watch(
    source: Annotated[list[str] | None, typer.Option(help="Only these sources")] = None,
    inline: Annotated[bool, typer.Option(help="Process files here instead of queueing")] = False,
    events: Annotated[bool, typer.Option(help="Use folder events (else polling only)")] = True,
    writeback_every: Annotated[float, typer.Option(help="Collect+flush write-backs, s")] = 0.0,
) -> None:
    """Watch the inboxes of the sap_files sources until Ctrl+C."""
    from sincro import health
    from sincro.config import get_settings
    from sincro.connectors.sap_files import service, watcher, writeback
    from sincro.db import get_database

    sources = [s for s in service.sap_sources() if not source or s.code in source]
    if not sources:
        fail("no active sap_files source configured (SINCRO_CONNECTORS_FILE)")
    db = get_database()
    health.start_heartbeat(get_settings(), kind="watcher")
    stop = stop_on_signals()
    inline_worker = watcher.InlineDispatcher(db, {s.code: s for s in sources}) if inline else None

    def dispatch_for(cfg: Any) -> Any:
        return inline_worker.for_source(cfg.code) if inline_worker else service.enqueue

    if writeback_every > 0:

        def writeback_loop() -> None:
            while not stop.wait(writeback_every):
                for cfg in sources:
                    writeback.run_in_loop(db, cfg)

        threading.Thread(target=writeback_loop, daemon=True).start()
    names = ", ".join(f"{s.code} ({s.inbox}, {s.readiness.strategy})" for s in sources)
    console.print(f"[green]watching[/] {names} — Ctrl+C stops")
    try:
        watcher.Watcher(db, sources, dispatch_for, use_events=events).run(stop)
    finally:
        if inline_worker:
            inline_worker.stop()
    console.print("stopped")


def files(
    source: Annotated[str | None, typer.Option(help="Source code")] = None,
    state: Annotated[str | None, typer.Option(help="received|processing|done|failed|...")] = None,
    limit: Annotated[int, typer.Option(help="Rows")] = 50,
) -> None:
    """The file ledger, newest first."""
    from sincro.connectors.sap_files import service
    from sincro.db import get_database

    with get_database().read() as session:
        rows = service.file_rows(session, source, state, limit)
    table = Table(title="Arquivos ERP")
    for column in ("id", "origem", "tipo", "estado", "data-base", "linhas", "rej."):
        table.add_column(column, no_wrap=True)
    table.add_column("nome", overflow="fold", min_width=18)  # never squeezed to nothing
    table.add_column("erro", overflow="fold")
    for f in rows:
        table.add_row(
            str(f.id),
            f"{f.source} {'⇢' if f.direction == 'out' else '⇠'}",
            f.kind,
            f.state,
            service.as_of_text(f.as_of),
            f"{f.rows_applied}/{f.rows_total}",
            str(f.rows_rejected),
            f.name,
            (f.error or "")[:80],
        )
    console.print(table)


def ingest(
    path: Annotated[Path, typer.Argument(help="The file (copied into the inbox if elsewhere)")],
    source: Annotated[str, typer.Option(help="Source code")],
) -> None:
    """Register and process one file now, with a progress bar."""
    from sincro.connectors.sap_files import service
    from sincro.db import get_database

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        cfg = service.source_config(source)
        with progress_bar("{task.description}") as bar:
            task = bar.add_task(path.name, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            outcome = service.ingest_path(get_database(), cfg, path, progress)
    except SincroError as exc:
        fail(exc.message)
    colour = {"done": "green", "failed": "red"}.get(outcome.state, "yellow")
    console.print(
        f"[{colour}]{outcome.state}[/] file {outcome.file_id} ({outcome.kind}):"
        f" {outcome.rows_applied} applied, {outcome.rows_rejected} rejected"
        + (f" — {outcome.error}" if outcome.error else "")
    )
    if outcome.state == "failed":
        raise typer.Exit(1)


def replay(file_id: Annotated[int, typer.Argument(help="Id of a failed file")]) -> None:
    """Queue a failed file again (corrected in the inbox, or back from the quarantine)."""
    from sincro.connectors.sap_files import service
    from sincro.db import get_database

    try:
        erp_file = service.replay_file(get_database(), file_id)
    except SincroError as exc:
        fail(exc.message)
    console.print(f"[green]queued[/] file {erp_file.id} ({erp_file.name}) again")
