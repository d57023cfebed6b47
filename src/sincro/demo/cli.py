"""``sincro demo``: load the demo operator and start every service with the simulated ERPs."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from sincro.cli_common import console, display_host
from sincro.config import get_settings, record_connectors_file, reset_settings

demo_app = typer.Typer()
# The simulated SAP drops a file a second (about 2.6 GB a day at the default size): the demo
# keeps its archive an hour and its logs small, unless the environment says otherwise.
DEMO_RETENTION = {
    "SINCRO_CONNECTORS_ARCHIVE_KEEP_DAYS": str(1 / 24),
    "SINCRO_LOGS_MAX_BYTES": str(5_000_000),
}


@demo_app.command()
def demo(
    stores: Annotated[int, typer.Option(help="Number of stores")] = 1800,
    dcs: Annotated[int, typer.Option(help="Number of distribution centers")] = 10,
    products: Annotated[int, typer.Option(help="Number of SKUs")] = 1000,
    shop_rate: Annotated[
        float, typer.Option(help="Simulated purchases a second (online and at tills)", min=0.01)
    ] = 2.0,
    history_days: Annotated[
        int, typer.Option(help="Days of daily sales history to load (0: none)", min=0, max=1100)
    ] = 730,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start every service after loading")
    ] = True,
    smoke: Annotated[
        bool,
        typer.Option(
            help="Run the end-to-end scenario against the running services and exit 0 or 1"
        ),
    ] = False,
    url: Annotated[str | None, typer.Option(help="API base URL for --smoke")] = None,
) -> None:
    """Load the demo operator (1,800 stores, 10 DCs, 1,000 SKUs) and start every service."""
    settings = get_settings()
    if smoke:
        from sincro.demo.smoke import run_smoke

        base = url or f"http://{display_host(settings.host)}:{settings.port}"
        raise typer.Exit(0 if run_smoke(base, console) else 1)
    from sincro.demo.setup import demo_connectors_file, prepare_demo, simulator_ports
    from sincro.runtime import children, run_startup_jobs, supervise

    credentials = prepare_demo(settings, stores, dcs, products, console, history_days)
    ports = simulator_ports(settings.demo_simulator_port)
    generated = (settings.var_dir / "connectors.yaml").resolve()
    chosen = settings.connectors_file
    if chosen is None or chosen.resolve() == generated:  # the demo's own file follows the ports
        record_connectors_file(settings.var_dir, demo_connectors_file(settings, ports))
        reset_settings()
        settings = get_settings()
    for name, value in DEMO_RETENTION.items():  # the children read them; the operator's win
        os.environ.setdefault(name, value)
    if not serve_after:
        return
    console.print(credentials)
    console.print(
        f"Simulated ERPs: Protheus on http://127.0.0.1:{ports[0]}, documents on"
        f" http://127.0.0.1:{ports[1]}"
        + ("" if ports[0] == settings.demo_simulator_port else " (preferred ports were taken)")
    )
    procs = children(settings.host, settings.port, settings.api_workers)
    procs["simulate"] = [
        *(sys.executable, "-m", "sincro.cli", "simulate", "erp"),
        *("--port-base", str(ports[0]), "--docs-port", str(ports[1])),
        *("--documents", "3000", "--customers", "2000"),
    ]
    procs["shop"] = [
        *(sys.executable, "-m", "sincro.cli", "simulate", "shop"),
        *("--url", f"http://{display_host(settings.host)}:{settings.port}"),
        *("--rate", str(shop_rate), "--products", str(products), "--stores", str(stores)),
        *("--dcs", str(dcs)),
    ]
    log_dir = settings.var_dir / "log"
    supervise(procs, settings.host, settings.port, on_ready=run_startup_jobs, log_dir=log_dir)
