"""``sincro sync``/``sincro simulate`` commands of the SAP file drops.

- ``sincro sync watch [--source CODE] [--inline]``: watch the inboxes (folder events + polling)
  until Ctrl+C; files are queued to the workers, or processed here with ``--inline``.
- ``sincro sync files [--source CODE] [--state STATE]``: the file ledger.
- ``sincro sync ingest PATH --source CODE``: process one file now, with a progress bar.
- ``sincro sync replay FILE_ID``: queue a failed file again once it is put back.
- ``sincro sync writeback --source CODE``: collect and flush write-backs now.
- ``sincro simulate sap --source CODE``: a simulated SAP writing into the source's inbox.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sincro.connectors.cli import simulate_app, sync_app
from sincro.errors import SincroError

console = Console()
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@sync_app.command("watch")
def watch(
    source: Annotated[list[str] | None, typer.Option(help="Only these sources")] = None,
    inline: Annotated[bool, typer.Option(help="Process files here instead of queueing")] = False,
    events: Annotated[bool, typer.Option(help="Use folder events (else polling only)")] = True,
    writeback_every: Annotated[float, typer.Option(help="Collect+flush write-backs, s")] = 0.0,
) -> None:
    """Watch the inboxes of the sap_files sources until Ctrl+C."""
    from sincro.connectors.sap_files import service, watcher, writeback
    from sincro.db import get_database

    sources = [s for s in service.sap_sources() if not source or s.code in source]
    if not sources:
        _fail("no active sap_files source configured (SINCRO_CONNECTORS_FILE)")
    db = get_database()
    stop = _stop_on_signals()
    inline_worker = watcher.InlineDispatcher(db, {s.code: s for s in sources}) if inline else None

    def dispatch_for(cfg: Any) -> Any:
        return inline_worker.for_source(cfg.code) if inline_worker else service.enqueue

    if writeback_every > 0:

        def writeback_loop() -> None:
            while not stop.wait(writeback_every):
                for cfg in sources:
                    with db.write() as session:
                        writeback.collect(session, cfg)
                    with db.write() as session:
                        writeback.flush(session, cfg)

        threading.Thread(target=writeback_loop, daemon=True).start()
    names = ", ".join(f"{s.code} ({s.inbox}, {s.readiness.strategy})" for s in sources)
    console.print(f"[green]watching[/] {names} — Ctrl+C stops")
    try:
        watcher.Watcher(db, sources, dispatch_for, use_events=events).run(stop)
    finally:
        if inline_worker:
            inline_worker.stop()
    console.print("stopped")


@sync_app.command("files")
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
    table.add_column("nome", overflow="fold")
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


@sync_app.command("ingest")
def ingest(
    path: Annotated[Path, typer.Argument(help="The file (copied into the inbox if elsewhere)")],
    source: Annotated[str, typer.Option(help="Source code")],
) -> None:
    """Register and process one file now, with a progress bar."""
    from sincro.connectors.sap_files import service
    from sincro.db import get_database

    if not path.is_file():
        _fail(f"{path}: no such file")
    try:
        cfg = service.source_config(source)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(path.name, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            outcome = service.ingest_path(get_database(), cfg, path, progress)
    except SincroError as exc:
        _fail(exc.message)
    colour = {"done": "green", "failed": "red"}.get(outcome.state, "yellow")
    console.print(
        f"[{colour}]{outcome.state}[/] file {outcome.file_id} ({outcome.kind}):"
        f" {outcome.rows_applied} applied, {outcome.rows_rejected} rejected"
        + (f" — {outcome.error}" if outcome.error else "")
    )
    if outcome.state == "failed":
        raise typer.Exit(1)


@sync_app.command("replay")
def replay(file_id: Annotated[int, typer.Argument(help="Id of a failed file")]) -> None:
    """Queue a failed file again (corrected in the inbox, or back from the quarantine)."""
    from sincro.connectors.sap_files import service
    from sincro.db import get_database

    try:
        erp_file = service.replay_file(get_database(), file_id)
    except SincroError as exc:
        _fail(exc.message)
    console.print(f"[green]queued[/] file {erp_file.id} ({erp_file.name}) again")


@sync_app.command("writeback")
def writeback_now(source: Annotated[str, typer.Option(help="Source code")]) -> None:
    """Collect write-backs for new Sincro movements and write the due ones to the outbox."""
    from sincro.connectors.sap_files import service, writeback
    from sincro.db import get_database

    cfg = service.source_config(source)
    db = get_database()
    with db.write() as session:
        created = writeback.collect(session, cfg)
    with db.write() as session:
        flushed = writeback.flush(session, cfg)
    console.print(
        f"{len(created)} new write-back(s); {len(flushed.written)} file(s) written to"
        f" {cfg.outbox}; {len(flushed.failed)} failed"
    )


@simulate_app.command("sap")
def simulate_sap(
    source: Annotated[str, typer.Option(help="Source code (its inbox receives the files)")],
    rate: Annotated[float, typer.Option(help="Movement files per second")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed")] = 7,
    faults: Annotated[str, typer.Option(help='e.g. "duplicate=0.2,latin1=0.5" or "all"')] = "",
    snapshot_every: Annotated[int, typer.Option(help="A snapshot every N ticks")] = 10,
    plants: Annotated[int, typer.Option(help="Plants per snapshot")] = 20,
    ticks: Annotated[int | None, typer.Option(help="Stop after N ticks")] = None,
    slow: Annotated[float, typer.Option(help="Write each snapshot over N seconds")] = 0.0,
) -> None:
    """Play SAP ECC: snapshots, goods movements and acknowledgements, until Ctrl+C."""
    from sincro.connectors.sap_files import service
    from sincro.simulators import sap_files as simulator

    try:
        cfg = service.source_config(source)
        parsed = simulator.Faults.parse(faults)
    except (SincroError, ValueError) as exc:
        _fail(getattr(exc, "message", str(exc)))
    stop = _stop_on_signals()
    console.print(f"[green]SAP simulado[/] escrevendo em {cfg.inbox} — Ctrl+C para")
    writer = simulator.run_sap_writer(
        cfg,
        stop,
        rate,
        parsed,
        seed=seed,
        snapshot_every=snapshot_every,
        plants_per_snapshot=plants,
        max_ticks=ticks,
        slow_seconds=slow,
    )
    console.print(f"{writer.files} arquivo(s) gerado(s)")
