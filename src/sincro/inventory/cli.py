"""``sincro inventory …``: inventory maintenance."""

from __future__ import annotations

import typer
from rich.table import Table

from sincro.cli_common import console, fail

inventory_app = typer.Typer(help="Inventory maintenance.", no_args_is_help=True)


@inventory_app.command("verify")
def inventory_verify(limit: int = 50) -> None:
    """Prove that every stock level equals its ledger (and reserved equals the active holds)."""
    from sincro.db import get_database
    from sincro.inventory import service

    db = get_database()
    with console.status("comparing stock levels with the ledger…"), db.long(), db.read() as s:
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
    fail(f"{len(rows)} stock level(s) disagree with the ledger")
