"""The process commands of ``sincro`` (migrate, api, worker, beat, relay, serve) and the
supervisor that runs every service as child processes in the embedded mode."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sincro.cli_common import (
    configure_cli_logging,
    console,
    display_host,
    err,
    fail,
    safe_url,
)
from sincro.config import Settings, get_settings
from sincro.domain import resolve_callable
from sincro.domains import installed
from sincro.logs import log_config

log = logging.getLogger("sincro.runtime")
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
        "sincro.app:create_server_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        loop=settings.api_loop,
        access_log=False,
        # applied by uvicorn in each worker process it spawns (they inherit no logging)
        log_config=log_config(settings.log_level, settings.log_json),
        proxy_headers=False,  # sincro.clients decides, from SINCRO_TRUSTED_PROXIES
        timeout_keep_alive=30,
        backlog=4096,
        timeout_worker_healthcheck=settings.api_worker_healthcheck_seconds,
    )


@runtime_app.command()
def worker(
    queues: Annotated[
        str | None,
        typer.Option("-Q", "--queues", help="Comma-separated queues (default: every queue)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
    name: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--name",
            help="Node name, unique per host when several workers share one (e.g. worker2@%h)",
        ),
    ] = None,
) -> None:
    """Run a Celery worker on the given queues."""
    from sincro.worker import celery_app

    configure_cli_logging()
    celery_app.worker_main(worker_argv(queues, concurrency, name))


# Nothing here listens to Celery's event stream (no gossip, mingle, Flower or ``celery
# events``; ``sincro.health`` is the liveness), so the worker sends none: without
# ``--without-heartbeat`` it would publish a ``worker-heartbeat`` event every 2 s while idle.
WORKER_FLAGS = ("--without-gossip", "--without-mingle", "--without-heartbeat")


def worker_argv(queues: str | None, concurrency: int, name: str | None = None) -> list[str]:
    """``celery worker``'s arguments for ``sincro worker``."""
    from sincro.worker import queues as all_queues

    argv = ["worker", "-Q", queues or ",".join(all_queues()), "--concurrency", str(concurrency)]
    if name:
        argv += ["--hostname", name]
    return [*argv, "--loglevel", "INFO", *WORKER_FLAGS]


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

    from sincro import health
    from sincro.feed.relay import run_relay

    configure_cli_logging()
    health.start_heartbeat(get_settings(), kind="relay")
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


def prepare_schema(settings: Settings) -> None:
    """Embedded mode migrates itself; production refuses a database behind the code."""
    from sincro.migrate import SchemaNotCurrent, ensure_schema

    try:
        if ensure_schema(settings.database_url, embedded=settings.mode == "embedded"):
            console.print(f"[green]✓[/] database migrated: {safe_url(settings.database_url)}")
    except SchemaNotCurrent as exc:
        fail(str(exc))


@runtime_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SINCRO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SINCRO_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="api worker processes")] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="Write each service's output to DIR/<service>.log")
    ] = None,
) -> None:
    """Run every service (api, worker, beat, the domains' watchers) as child processes,
    restarting any that dies. Embedded mode migrates the database first."""
    settings = get_settings()
    prepare_schema(settings)
    host, port = host or settings.host, port or settings.port
    procs = children(host, port, workers or settings.api_workers)
    supervise(procs, host, port, log_dir=log_dir)


@dataclass
class Child:
    """One supervised process: its command, the running process, and its restart state."""

    name: str
    argv: list[str]
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float | None = None

    def start(self) -> None:
        output = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=output, stderr=subprocess.STDOUT if output else None
            )
        finally:
            if output is not None:
                output.close()  # the child keeps its own descriptor
        self.started_at, self.next_start = time.monotonic(), None


class Supervisor:
    """Runs children and restarts one that dies, after an exponential backoff (1 s, 2 s, 4 s
    … up to 60 s; back to 1 s once a child has run for a minute), logging each restart."""

    BACKOFF_FIRST, BACKOFF_MAX, STABLE_SECONDS = 1.0, 60.0, 60.0

    def __init__(self, commands: dict[str, list[str]], log_dir: Path | None = None) -> None:
        self.children = [
            Child(name, argv, log_dir / f"{name}.log" if log_dir else None)
            for name, argv in commands.items()
        ]

    def start(self) -> None:
        for child in self.children:
            child.start()

    def poll(self, now: float | None = None) -> None:
        """Notice dead children, schedule their restart, and restart those that are due."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            if child.next_start is None:
                if now - child.started_at >= self.STABLE_SECONDS:
                    child.restarts = 0
                delay = min(self.BACKOFF_MAX, self.BACKOFF_FIRST * 2**child.restarts)
                child.next_start = now + delay
                log.warning(
                    "%s exited with code %s; restarting in %.0f s",
                    child.name,
                    child.proc.returncode,
                    delay,
                )
                err.print(
                    f"[yellow]{child.name} exited with code {child.proc.returncode}; "
                    f"restarting in {delay:.0f} s[/]"
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.start()
                log.warning("%s restarted (restart %d)", child.name, child.restarts)

    def stop(self, timeout: float = 15) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {c.name: c.proc for c in self.children if c.proc is not None}


def supervise(
    procs_to_start: dict[str, list[str]],
    host: str,
    port: int,
    on_ready: Callable[[], None] | None = None,
    log_dir: Path | None = None,
) -> None:
    """Start the children, print where the console is once the api answers, restart any that
    dies, and stop them all on Ctrl+C or TERM. With ``log_dir`` each child writes its output to
    ``<log_dir>/<name>.log`` and the terminal keeps only the addresses and warnings."""
    supervisor = Supervisor(procs_to_start, log_dir)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor.start()
    if _wait_ready(host, port, supervisor, lambda: stopping):
        if on_ready is not None:
            on_ready()
        _print_urls(host, port, log_dir)
    while not stopping:
        supervisor.poll()
        time.sleep(0.5)
    supervisor.stop()
    raise typer.Exit(0)


def _wait_ready(host: str, port: int, supervisor: Supervisor, stopping: Callable[[], bool]) -> bool:
    """Wait for the api to answer (restarting children that die meanwhile), up to 2 minutes."""
    import httpx

    url = f"http://{display_host(host)}:{port}/health"
    for _ in range(240):
        if stopping():
            return False
        supervisor.poll()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _print_urls(host: str, port: int, log_dir: Path | None = None) -> None:
    base = f"http://{display_host(host)}:{port}"
    table = Table(title="Sincro is running", show_header=False)
    table.add_row("Console", f"{base}/console")
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/ready")
    table.add_row("Metrics", f"{base}/metrics")
    if log_dir is not None:
        table.add_row("Logs", str(log_dir))
    console.print(table)
    console.print("Press Ctrl+C to stop.")
