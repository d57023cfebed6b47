"""``sincro sync``/``sincro simulate`` commands of the REST ERPs."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sincro.connectors.cli import simulate_app, sync_app

console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _load() -> tuple[Any, Any]:
    from sincro.config import get_settings
    from sincro.connectors.config import load_config
    from sincro.errors import SincroError

    settings = get_settings()
    try:
        return settings, load_config(settings.connectors_file)
    except SincroError as exc:
        _fail(exc.message)
        raise  # unreachable


@sync_app.command("run")
def sync_run(
    source: Annotated[str | None, typer.Option(help="Only this source (code)")] = None,
    entity: Annotated[list[str] | None, typer.Option(help="Only this entity (repeatable)")] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="One source, entity and page at a time")
    ] = False,
) -> None:
    """Sync REST ERP sources now, in this process, with a progress bar per entity."""
    from sincro.connectors.orchestrator import REST_KINDS, run_source, run_sources

    settings, config = _load()
    codes = [s.code for s in config.sources if s.active and s.kind in REST_KINDS]
    if source is not None:
        try:
            kind = config.source(source).kind
        except KeyError:
            _fail(f"no source {source!r} in {settings.connectors_file}")
        if kind not in REST_KINDS:
            _fail(f"source {source!r} is {kind}; this command syncs REST ERP sources")
        codes = [source]
    if not codes:
        _fail(f"no active REST source in the connectors file ({settings.connectors_file})")
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
    from sincro.connectors.schedule import cron
    from sincro.db import get_database, utcnow
    from sincro.text_pt import datetime_br

    settings, config = _load()
    db = get_database(settings.database_url)
    now = utcnow()
    table = Table(title="Origens ERP")
    for column in ("origem", "status", "última execução", "próxima", "disjuntor", "idade", "erro"):
        table.add_column(column)
    with db.read() as session:
        rows = {r.code: r for r in session.query(SyncSource).all()}
    for source in config.sources:
        row = rows.get(source.code)
        schedule = getattr(source, "schedule", None)
        upcoming = "—"
        if schedule:
            upcoming = datetime_br(now + cron(schedule).remaining_estimate(now))
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
def sync_writeback(source: Annotated[str, typer.Argument(help="REST source code")]) -> None:
    """Send Sincro's unacknowledged sales to a Protheus-style ERP now."""
    from sincro.connectors.rest.writeback import run_writeback

    settings, config = _load()
    report = run_writeback(settings, config, source)
    console.print(
        f"criados {len(report.created)}, confirmados {len(report.acknowledged)}, "
        f"a repetir {len(report.retrying)}, com falha {len(report.failed)}"
    )


@sync_app.command("alias-locations")
def sync_alias_locations(source: Annotated[str, typer.Argument(help="Source code")]) -> None:
    """Map the simulated ERP's branches (0001…, D001…) to the demo's locations."""
    from sincro.connectors.orchestrator import ensure_source
    from sincro.connectors.rest.simulator import alias_demo_locations
    from sincro.db import get_database

    settings, config = _load()
    try:
        cfg = config.source(source)
    except KeyError:
        _fail(f"no source {source!r} in {settings.connectors_file}")
    with get_database(settings.database_url).write() as session:
        ensure_source(session, cfg)
        added = alias_demo_locations(session, source)
    console.print(f"[green]✓[/] {added} location aliases added for {source}")


@simulate_app.command("erp")
def simulate_erp(
    port_base: Annotated[int, typer.Option(help="Protheus on this port, documents on +1")] = 8201,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every call")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of calls answering HTTP 500")] = 0.0,
    documents: Annotated[int, typer.Option(help="Documents in the JSON ERP")] = 100_000,
    customers: Annotated[int, typer.Option(help="Customers (SA1) in Protheus")] = 20_000,
    products: Annotated[int, typer.Option(help="Products (the demo's first N SKUs)")] = 1000,
    stores: Annotated[int, typer.Option(help="Stores (LJ0001…)")] = 1800,
    dcs: Annotated[int, typer.Option(help="Distribution centres (CD01…)")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the generated data")] = 7,
    sap: Annotated[bool, typer.Option(help="Also start the SAP file writer")] = True,
) -> None:
    """Run the simulated REST ERPs (and the SAP file writer, when available) until Ctrl-C."""
    from sincro.connectors.rest.simulator import DocumentsSimulator, ProtheusSimulator

    if not 0 <= error_rate <= 1:
        _fail("--error-rate must be between 0 and 1")
    try:
        protheus = ProtheusSimulator(
            port=port_base,
            seed=seed,
            products=products,
            stores=stores,
            dcs=dcs,
            customers=customers,
        )
        docs = DocumentsSimulator(
            port=port_base + 1, seed=seed, documents=documents, products=products
        )
    except OSError as exc:
        _fail(f"cannot listen on ports {port_base}-{port_base + 1}: {exc}")
    for sim in (protheus, docs):
        sim.faults.latency_ms, sim.faults.error_rate = latency_ms, error_rate
        sim.start()
    console.print(f"[green]✓[/] Protheus simulado em {protheus.url} (SB1, SB2, SA1, SE1)")
    console.print(f"[green]✓[/] ERP de documentos simulado em {docs.url} ({documents} documentos)")
    if sap:
        _start_sap_writer()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        protheus.stop()
        docs.stop()


def _start_sap_writer() -> None:
    """Start the SAP file writer (the SAP connector's simulator) for each SAP source of the
    connectors file, if that module is present."""
    try:
        from sincro.connectors.sap_files.simulator import run_sap_writer
    except ImportError:
        console.print("[yellow]![/] SAP file writer not available (sap_files.simulator); skipped")
        return
    _, config = _load()
    sources = [s for s in config.sources if s.kind == "sap_files" and s.active]
    if not sources:
        console.print("[yellow]![/] no sap_files source in the connectors file; SAP writer skipped")
        return
    stop = threading.Event()
    for source in sources:
        threading.Thread(
            target=run_sap_writer, args=(source, stop), daemon=True, name=f"sap-{source.code}"
        ).start()
        console.print(f"[green]✓[/] SAP file writer started for {source.code}")
