"""``sincro simulate …``: the simulated ERPs, for the demo, the benchmarks and the tests.

- ``sincro simulate erp``: the Protheus and document REST ERPs over HTTP, and a SAP file writer
  per sap_files source of the connectors file.
- ``sincro simulate sap --source CODE``: a simulated SAP writing into one source's inbox.
- ``sincro simulate alias-locations SOURCE``: map the simulated ERP's branches to the demo's
  locations.
- ``sincro simulate shop``: shoppers buying online and at store tills through the public API,
  following the demo's demand model.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer

from sincro.cli_common import console, fail
from sincro.connectors.cli_support import load, stop_on_signals
from sincro.errors import SincroError

simulate_app = typer.Typer(help="Simulated ERPs for the demo and the tests.", no_args_is_help=True)


def _docs_port(port_base: int, docs_port: int | None) -> int:
    if docs_port is not None:
        return docs_port
    return port_base + 1 if port_base else 0


@simulate_app.command("erp")
def simulate_erp(
    port_base: Annotated[
        int, typer.Option(help="Protheus on this port, documents on +1 (0: free ports)")
    ] = 8201,
    docs_port: Annotated[
        int | None, typer.Option(help="Documents ERP port (default: --port-base + 1)")
    ] = None,
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
    """Run the simulated REST ERPs (and the SAP file writer) until Ctrl-C."""
    from sincro.simulators.rest import DocumentsSimulator, ProtheusSimulator

    if not 0 <= error_rate <= 1:
        fail("--error-rate must be between 0 and 1")
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
            port=_docs_port(port_base, docs_port), seed=seed, documents=documents, products=products
        )
    except OSError as exc:
        fail(
            f"cannot listen on port {port_base} or {_docs_port(port_base, docs_port)}: {exc};"
            " choose others with --port-base/--docs-port, or 0 for free ones"
        )
    for sim in (protheus, docs):
        sim.faults.latency_ms, sim.faults.error_rate = latency_ms, error_rate
        sim.start()
    console.print(f"[green]✓[/] Protheus simulado em {protheus.url} (SB1, SB2, SA1, SE1)")
    console.print(f"[green]✓[/] ERP de documentos simulado em {docs.url} ({documents} documentos)")
    if sap:
        _start_sap_writers()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        protheus.stop()
        docs.stop()


def _start_sap_writers() -> None:
    """Start a SAP file writer for each active sap_files source of the connectors file."""
    from sincro.connectors.sap_files.config import SapFilesSource
    from sincro.simulators.sap_files import run_sap_writer

    _, config = load()
    sources = [s for s in config.sources if isinstance(s, SapFilesSource) and s.active]
    if not sources:
        console.print("[yellow]![/] no sap_files source in the connectors file; SAP writer skipped")
        return
    stop = threading.Event()
    for source in sources:
        threading.Thread(
            target=run_sap_writer, args=(source, stop), daemon=True, name=f"sap-{source.code}"
        ).start()
        console.print(f"[green]✓[/] SAP file writer started for {source.code}")


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
        fail(getattr(exc, "message", str(exc)))
    stop = stop_on_signals()
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


@simulate_app.command("alias-locations")
def simulate_alias_locations(source: Annotated[str, typer.Argument(help="Source code")]) -> None:
    """Map the simulated ERP's branches (0001…, D001…) to the demo's locations."""
    from sincro.connectors.orchestrator import ensure_source
    from sincro.db import database_for
    from sincro.simulators.rest import alias_demo_locations

    settings, config = load()
    try:
        cfg = config.source(source)
    except KeyError:
        fail(f"no source {source!r} in {settings.connectors_file}")
    with database_for(settings).write() as session:
        ensure_source(session, cfg)
        added = alias_demo_locations(session, source)
    console.print(f"[green]✓[/] {added} location aliases added for {source}")


@simulate_app.command("shop")
def simulate_shop(
    url: Annotated[str, typer.Option(help="Sincro API base URL")] = "http://127.0.0.1:8000",
    rate: Annotated[float, typer.Option(help="Purchases a second (Poisson arrivals)")] = 2.0,
    products: Annotated[int, typer.Option(help="The demo's first N SKUs")] = 1000,
    stores: Annotated[int, typer.Option(help="Stores (LJ0001…)")] = 1800,
    dcs: Annotated[int, typer.Option(help="Distribution centres")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the demo data")] = 7,
    shop_key: Annotated[
        str, typer.Option(envvar="SINCRO_DEMO_SHOP_KEY", help="E-commerce (channel) API key")
    ] = "",
    tills_key: Annotated[
        str, typer.Option(envvar="SINCRO_DEMO_TILLS_KEY", help="Store tills (store) API key")
    ] = "",
) -> None:
    """Buy online (reserve, then commit or abandon) and at store tills until Ctrl-C."""
    from sincro.simulators.shop import ShopSimulator, summary

    if not shop_key or not tills_key:
        fail(
            "--shop-key and --tills-key (or SINCRO_DEMO_SHOP_KEY / SINCRO_DEMO_TILLS_KEY)"
            " are needed"
        )
    if not 0 < rate <= 1000:
        fail("--rate must be between 0 and 1000 purchases a second")
    shop = ShopSimulator(
        url, shop_key, tills_key, rate=rate, products=products, stores=stores, dcs=dcs, seed=seed
    )
    stop = stop_on_signals()
    console.print(f"[green]✓[/] compradores simulados: {rate:g} compras/s em {url}")
    try:
        shop.run(stop)
    finally:
        shop.close()
        console.print(f"compras: {summary(shop.stats)}")
