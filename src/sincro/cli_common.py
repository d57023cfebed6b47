"""What every ``sincro`` sub-command module shares: the consoles, logging, failing cleanly."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sincro.config import get_settings

console = Console()
err = Console(stderr=True)


def configure_cli_logging() -> None:
    from sincro.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


def fail(message: str) -> NoReturn:
    """Print an error in red and exit with status 1."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def progress_bar(label: str, on: Console | None = None) -> Progress:
    """The house progress bar: a bold label (``{task.description}`` for the task's own),
    the bar, done/total and the time left."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=on or console,
    )


def safe_url(url: str) -> str:
    """A database or broker URL with its credentials hidden, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def display_host(host: str) -> str:
    """The address people can open: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host
