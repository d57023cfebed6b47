"""``sincro customers …``: CSV import with a progress bar, LGPD export and erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sincro.cli_common import console, fail

customers_app = typer.Typer(
    help="Customers: CSV import, LGPD export and erasure.", no_args_is_help=True
)
REJECTS_SHOWN = 20


@customers_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV (pt-BR Excel form or plain)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write the reject report (CSV for Excel) here")
    ] = None,
) -> None:
    """Import customers from a CSV: every line validated, rejects reported with line, column
    and reason, good lines applied in atomic batches and merged by document."""
    from sincro.audit import Actor
    from sincro.config import get_settings
    from sincro.customers import repository as repo
    from sincro.customers.importer import Importer
    from sincro.db import get_database
    from sincro.errors import SincroError

    settings = get_settings()
    if not file.is_file():
        fail(f"{file} is not a file")
    if file.stat().st_size > settings.customers_import_max_bytes:
        fail(f"{file} is larger than SINCRO_CUSTOMERS_IMPORT_MAX_BYTES")
    raw = file.read_bytes()
    db = get_database()
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        importer = Importer(
            db,
            batch_lines=settings.customers_import_batch_lines,
            max_line_chars=settings.customers_import_max_line_chars,
            progress=progress,
        )
        import_id = importer.start(file.name, dry_run=dry_run, actor=Actor.cli().label)
        try:
            outcome = importer.run(import_id, raw)
        except SincroError as exc:
            fail(exc.message)
    with db.read() as session:
        record = repo.get_import(session, import_id)
        refused = repo.import_rejects(session, import_id)
    assert record is not None
    verb = "would create" if dry_run else "created"
    console.print(
        f"[green]✓[/] import {import_id}: {outcome.total_lines:,} lines read "
        f"({record.encoding}, '{record.delimiter}'), {verb} {outcome.created:,}, "
        f"{'would update' if dry_run else 'updated'} {outcome.updated:,}, "
        f"rejected {outcome.rejected:,} in {outcome.seconds:.1f} s"
    )
    if refused:
        table = Table("line", "column", "reason")
        for r in refused[:REJECTS_SHOWN]:
            table.add_row(str(r.line), r.column, r.reason)
        console.print(table)
        if len(refused) > REJECTS_SHOWN:
            console.print(f"… and {len(refused) - REJECTS_SHOWN:,} more")
    if rejects is not None:
        from sincro.console.export import csv_lines

        rows = [(r.line, r.column, r.reason, r.value) for r in refused]
        text = "\ufeff" + "".join(csv_lines(("linha", "coluna", "motivo", "valor"), rows))
        rejects.write_text(text, encoding="utf-8")
        console.print(f"reject report: {rejects}")


@customers_app.command("export")
def export(
    customer_id: Annotated[int, typer.Argument(min=1)],
    output: Annotated[Path | None, typer.Option(help="Write the JSON here (else stdout)")] = None,
) -> None:
    """LGPD: everything kept about one customer, as JSON (audited)."""
    from sincro import privacy
    from sincro.audit import Actor
    from sincro.customers import service
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        with get_database().write() as session:
            service.get_customer(session, customer_id)
            data = privacy.export_customer(session, customer_id, Actor.cli())
    except SincroError as exc:
        fail(exc.message)
    text = json.dumps({"customer_id": customer_id, "sections": data}, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"[green]✓[/] written to {output}")


@customers_app.command("erase")
def erase(
    customer_id: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option(help="Why (the request's reference)")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """LGPD: erase one customer everywhere (billing records kept, anonymized); audited."""
    from sincro import privacy
    from sincro.audit import Actor
    from sincro.customers import service
    from sincro.db import get_database
    from sincro.errors import SincroError

    if len(reason.strip()) < 3:
        fail("--reason needs at least 3 characters")
    if not yes:
        typer.confirm(f"Erase customer {customer_id}? This cannot be undone", abort=True)
    try:
        with get_database().write() as session:
            service.get_customer(session, customer_id)
            counts = privacy.erase_customer(session, customer_id, Actor.cli(), reason.strip())
    except SincroError as exc:
        fail(exc.message)
    console.print(f"[green]✓[/] customer {customer_id} erased: {json.dumps(counts)}")
