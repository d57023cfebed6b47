"""The ``sincro`` command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sincro.catalog.search_cli import search_app
from sincro.config import get_settings, reset_settings
from sincro.connectors.cli import simulate_app, sync_app

app = typer.Typer(help="Sincro: real-time inventory and operations hub.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
users_app = typer.Typer(help="Console users.", no_args_is_help=True)
inventory_app = typer.Typer(help="Inventory maintenance.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(inventory_app, name="inventory")
app.add_typer(sync_app, name="sync")
app.add_typer(simulate_app, name="simulate")
app.add_typer(search_app, name="search")
console = Console()
err = Console(stderr=True)


def _logging() -> None:
    from sincro.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from SINCRO_DATABASE_URL)."""
    from sincro.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"[green]✓[/] database at head: {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _prepare_metrics_dir(workers: int) -> None:
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = get_settings().var_dir / "prometheus"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (SINCRO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SINCRO_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn)."""
    import uvicorn

    _logging()
    settings = get_settings()
    workers = workers or settings.api_workers
    _prepare_metrics_dir(workers)
    uvicorn.run(
        "sincro.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=False,
        log_config=None,
        timeout_keep_alive=30,
        backlog=4096,
    )


@app.command()
def worker(
    queues: Annotated[str, typer.Option("-Q", "--queues", help="Comma-separated queues")] = (
        "default,inventory,events,ingest,sync"
    ),
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
) -> None:
    """Run a Celery worker on the given queues."""
    from sincro.worker import celery_app

    _logging()
    celery_app.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat() -> None:
    """Run the Celery beat scheduler (expiry sweep, ledger check, webhook dispatch)."""
    from sincro.worker import celery_app

    _logging()
    celery_app.start(["beat", "--loglevel", "INFO"])


@app.command()
def relay() -> None:
    """Publish outbox events to the RabbitMQ fanout exchange (production; one leader at a time)."""
    import threading

    from sincro.feed.relay import run_relay

    _logging()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_relay(get_settings(), stop)


def _children(host: str, port: int, workers: int) -> dict[str, list[str]]:
    me = [sys.executable, "-m", "sincro.cli"]
    children = {
        "api": [*me, "api", "--host", host, "--port", str(port), "--workers", str(workers)],
        "worker": [*me, "worker", "--concurrency", "2"],
        "beat": [*me, "beat"],
    }
    if get_settings().broker_is_amqp:
        children["relay"] = [*me, "relay"]
    if "sap_files" in _connector_kinds():
        children["watch"] = [*me, "sync", "watch"]
    return children


def _connector_kinds() -> set[str]:
    from sincro.connectors.config import load_config

    return {s.kind for s in load_config(get_settings().connectors_file).sources if s.active}


def _start_rest_syncs() -> None:
    """Queue one sync of every REST source now, rather than waiting for its schedule."""
    from sincro.connectors.config import load_config
    from sincro.worker import celery_app

    for source in load_config(get_settings().connectors_file).sources:
        if source.active and source.kind in ("protheus_rest", "json_rest"):
            celery_app.send_task("sincro.connectors.sync_source", args=(source.code, "manual"))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SINCRO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SINCRO_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="api worker processes")] = None,
) -> None:
    """Run every service (api, worker, beat) as child processes: the embedded mode."""
    settings = get_settings()
    supervise(
        _children(host or settings.host, port or settings.port, workers or settings.api_workers),
        host or settings.host,
        port or settings.port,
    )


def supervise(
    children: dict[str, list[str]],
    host: str,
    port: int,
    on_ready: Callable[[], None] | None = None,
) -> None:
    procs = {name: subprocess.Popen(cmd) for name, cmd in children.items()}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if _wait_ready(host, port, procs):
        if on_ready is not None:
            on_ready()
        _print_urls(host, port)
    code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                err.print(f"[red]{name} exited with code {proc.returncode}; stopping[/]")
                stopping, code = True, 1
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    raise typer.Exit(code)


def _wait_ready(host: str, port: int, procs: dict[str, subprocess.Popen[bytes]]) -> bool:
    import httpx

    url = f"http://{_display_host(host)}:{port}/health"
    for _ in range(120):
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _print_urls(host: str, port: int) -> None:
    base = f"http://{_display_host(host)}:{port}"
    table = Table(title="Sincro is running", show_header=False)
    table.add_row("Console", f"{base}/console")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/ready")
    table.add_row("Metrics", f"{base}/metrics")
    console.print(table)
    console.print("Press Ctrl+C to stop.")


# --- keys and users ------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, channel or store")],
    name: Annotated[str | None, typer.Option(help="A name to recognise the key")] = None,
    location: Annotated[list[str] | None, typer.Option(help="Location code (store keys)")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Requests per minute")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from sincro.access import service as access
    from sincro.access.models import Role
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        chosen = Role(role)
    except ValueError:
        _fail(f"--role must be one of: {', '.join(r.value for r in Role)}")
    try:
        with get_database().write() as session:
            key, plaintext = access.create_key(
                session, name or f"{role}-key", chosen, location or [], rate_limit
            )
    except SincroError as exc:
        _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    console.print(
        f"key {key.prefix} ({chosen.value}) created. Store it now; it is not shown again:"
    )
    print(plaintext)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, name, role, state)."""
    from sincro.access import service as access
    from sincro.db import get_database

    table = Table("prefix", "name", "role", "active", "created")
    with get_database().read() as session:
        for key in access.list_keys(session):
            table.add_row(
                key.prefix,
                key.name,
                key.role,
                "yes" if key.active else "revoked",
                key.created_at.strftime("%d/%m/%Y %H:%M"),
            )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (takes effect within 30 s in running api processes)."""
    from sincro.access import service as access
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        with get_database().write() as session:
            access.revoke_key(session, prefix)
    except SincroError as exc:
        _fail(exc.message)
    console.print(f"[green]✓[/] key {prefix} revoked")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    role: Annotated[str, typer.Option()] = "admin",
) -> None:
    """Create a console user."""
    from sincro.access import service as access
    from sincro.access.models import Role
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        with get_database().write() as session:
            access.create_user(session, email, name, password, Role(role))
    except (SincroError, ValueError) as exc:
        _fail(getattr(exc, "message", str(exc)))
    console.print(f"[green]✓[/] user {email} created")


# --- inventory ------------------------------------------------------------------------------


@inventory_app.command("verify")
def inventory_verify(limit: int = 50) -> None:
    """Prove that every stock level equals its ledger (and reserved equals the active holds)."""
    from sincro.db import get_database
    from sincro.inventory import service

    with console.status("comparing stock levels with the ledger…"), get_database().read() as s:
        rows = service.verify(s, limit=limit)
    if not rows:
        console.print("[green]✓[/] every stock level equals its ledger")
        return
    table = Table("sku", "location", "bucket", "level", "ledger")
    for row in rows:
        for bucket in (
            "on_hand",
            "reserved",
            "blocked_quality",
            "blocked_stock",
            "blocked_returns",
        ):
            if row[f"level_{bucket}"] != row[f"ledger_{bucket}"]:
                table.add_row(
                    str(row["sku"]),
                    str(row["location"]),
                    bucket,
                    str(row[f"level_{bucket}"]),
                    str(row[f"ledger_{bucket}"]),
                )
        if row["level_reserved"] != row["held"]:
            table.add_row(
                str(row["sku"]),
                str(row["location"]),
                "reserved vs holds",
                str(row["level_reserved"]),
                str(row["held"]),
            )
    console.print(table)
    _fail(f"{len(rows)} stock level(s) disagree with the ledger")


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    stores: Annotated[int, typer.Option(help="Number of stores")] = 1800,
    dcs: Annotated[int, typer.Option(help="Number of distribution centers")] = 10,
    products: Annotated[int, typer.Option(help="Number of SKUs")] = 1000,
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

        base = url or f"http://{_display_host(settings.host)}:{settings.port}"
        raise typer.Exit(0 if run_smoke(base, console) else 1)
    from sincro.demo.setup import SIMULATOR_PORT_BASE, demo_connectors_file, prepare_demo

    credentials = prepare_demo(settings, stores, dcs, products, console)
    if not os.environ.get("SINCRO_CONNECTORS_FILE"):
        os.environ["SINCRO_CONNECTORS_FILE"] = str(demo_connectors_file(settings))
        reset_settings()
        settings = get_settings()
    if serve_after:
        console.print(credentials)
        children = _children(settings.host, settings.port, settings.api_workers)
        children["simulate"] = [
            sys.executable,
            "-m",
            "sincro.cli",
            "simulate",
            "erp",
            "--port-base",
            str(SIMULATOR_PORT_BASE),
            "--documents",
            "3000",
            "--customers",
            "2000",
        ]
        supervise(children, settings.host, settings.port, on_ready=_start_rest_syncs)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
