"""The process commands of ``sincro`` (migrate, api, worker, beat, relay, serve) and the
supervisor that runs every service as child processes in the embedded mode."""

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
from rich.table import Table

from sincro.cli_common import (
    configure_cli_logging,
    console,
    display_host,
    err,
    safe_url,
)
from sincro.config import Settings, get_settings
from sincro.domain import resolve_callable
from sincro.domains import installed

runtime_app = typer.Typer()
SINCRO = [sys.executable, "-m", "sincro.cli"]


@runtime_app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from SINCRO_DATABASE_URL)."""
    from sincro.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"[green]✓[/] database at head: {safe_url(settings.database_url)}")


def _prepare_metrics_dir(workers: int) -> None:
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = get_settings().var_dir / "prometheus"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


@runtime_app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (SINCRO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SINCRO_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn)."""
    import uvicorn

    configure_cli_logging()
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


@runtime_app.command()
def worker(
    queues: Annotated[
        str | None,
        typer.Option("-Q", "--queues", help="Comma-separated queues (default: every queue)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
) -> None:
    """Run a Celery worker on the given queues."""
    from sincro.worker import celery_app
    from sincro.worker import queues as all_queues

    configure_cli_logging()
    celery_app.worker_main(
        [
            "worker",
            "-Q",
            queues or ",".join(all_queues()),
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@runtime_app.command()
def beat() -> None:
    """Run the Celery beat scheduler (every installed domain's schedules)."""
    from sincro.worker import celery_app

    configure_cli_logging()
    celery_app.start(["beat", "--loglevel", "INFO"])


@runtime_app.command()
def relay() -> None:
    """Publish outbox events to the RabbitMQ fanout exchange (production; one leader at a time)."""
    import threading

    from sincro.feed.relay import run_relay

    configure_cli_logging()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_relay(get_settings(), stop)


def children(host: str, port: int, workers: int) -> dict[str, list[str]]:
    """The kernel's processes plus those the installed domains ask for (watchers, relay)."""
    settings = get_settings()
    procs = {
        "api": [*SINCRO, "api", "--host", host, "--port", str(port), "--workers", str(workers)],
        "worker": [*SINCRO, "worker", "--concurrency", "2"],
        "beat": [*SINCRO, "beat"],
    }
    for domain in installed():
        extra = resolve_callable(domain.children)
        if extra is not None:
            procs.update(extra(settings))
    return procs


def run_startup_jobs(settings: Settings | None = None) -> None:
    """What the domains want done once every service is up (a first ERP sync)."""
    settings = settings or get_settings()
    for domain in installed():
        job = resolve_callable(domain.startup_jobs)
        if job is not None:
            job(settings)


@runtime_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SINCRO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SINCRO_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="api worker processes")] = None,
) -> None:
    """Run every service (api, worker, beat, the domains' watchers) as child processes."""
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    supervise(children(host, port, workers or settings.api_workers), host, port)


def supervise(
    procs_to_start: dict[str, list[str]],
    host: str,
    port: int,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Start the children, print where the console is once the api answers, and stop them
    all on Ctrl+C or when one exits."""
    procs = {name: subprocess.Popen(cmd) for name, cmd in procs_to_start.items()}
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

    url = f"http://{display_host(host)}:{port}/health"
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


def _print_urls(host: str, port: int) -> None:
    base = f"http://{display_host(host)}:{port}"
    table = Table(title="Sincro is running", show_header=False)
    table.add_row("Console", f"{base}/console")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/ready")
    table.add_row("Metrics", f"{base}/metrics")
    console.print(table)
    console.print("Press Ctrl+C to stop.")
