"""``sincro search …`` commands: rebuild the search index, try a query."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sincro.cli_common import progress_bar

search_app = typer.Typer(help="Search over product documents and products.", no_args_is_help=True)
console = Console()


@search_app.command("reindex")
def reindex(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Rebuild the whole search index from the documents and products (searches keep working)."""
    from sincro.catalog.search import reindex_all
    from sincro.db import get_database

    with progress_bar("indexing", console) as bar:
        task = bar.add_task("index", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        stats = reindex_all(get_database(), progress, batch=batch)
    console.print(
        f"[green]✓[/] indexed {stats.documents:,} documents and {stats.products:,} products "
        f"in {stats.seconds:.1f} s; {stats.removed:,} stale entries removed"
    )


@search_app.command("query")
def query(
    q: Annotated[str, typer.Argument(help="What to look for")],
    kind: Annotated[str | None, typer.Option(help="product, document, datasheet…")] = None,
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
) -> None:
    """Run a search and print the results (how the query was understood, too)."""
    from sincro.catalog.search import engine_for
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        found = engine_for(get_database()).search(q, kind=kind, limit=limit)
    except SincroError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from exc
    for term in found.terms:
        extra = f" (also: {', '.join(term.corrections)})" if term.corrections else ""
        console.print(f"[dim]{term.word} → {term.stem}{extra}[/]")
    table = Table("score", "type", "id", "sku", "title", "version")
    for hit in found.hits:
        version = "" if hit.version is None else f"v{hit.version}" + (" (old)" * hit.superseded)
        table.add_row(f"{hit.score:.4g}", hit.kind, str(hit.id), hit.sku or "", hit.title, version)
    console.print(table)
    console.print(f"[dim]{len(found.hits)} results in {found.took_ms:.1f} ms[/]")
