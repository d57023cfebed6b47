"""``sincro billing …``: run the dunning now, write an invoice's PDF, show how to pay it."""

from __future__ import annotations

from pathlib import Path

import typer

from sincro.cli_common import console, fail

billing_app = typer.Typer(help="Billing notices and payment artifacts.", no_args_is_help=True)


@billing_app.command("dunning")
def billing_dunning() -> None:
    """Run the dunning now (what the beat does every SINCRO_BILLING_DUNNING_EVERY_SECONDS)."""
    from sincro.billing.tasks import dunning

    totals = dunning()
    console.print(
        f"{totals['looked_at']} receivables looked at: {totals['queued']} notices queued, "
        f"{totals['superseded']} superseded, {totals['outside_hours']} outside sending hours"
    )


@billing_app.command("invoice")
def billing_invoice(
    receivable_id: int,
    output: Path = typer.Option(None, "--output", "-o", help="PDF file (default: its name)"),
) -> None:
    """Write the PDF copy of a receivable's invoice and print its payment lines."""
    from sincro.billing import service
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.errors import SincroError

    settings = get_settings()
    try:
        with get_database().read() as session:
            name, data = service.invoice(session, receivable_id, settings)
            pay = service.payment(session, receivable_id, settings)
    except SincroError as exc:
        fail(str(exc))
    target = output or Path(name)
    target.write_bytes(data)
    console.print(f"[green]✓[/] {target}")
    typer.echo(f"linha digitável: {pay.digitable_line}")  # whole lines: they get copied
    if pay.pix_code:
        typer.echo(f"pix copia e cola: {pay.pix_code}")
