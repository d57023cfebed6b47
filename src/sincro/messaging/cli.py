"""``sincro messaging``: read the bounce mailbox, run the tick, show a campaign."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Mensagens: campanhas, devoluções (bounces) e fila de envio.", no_args_is_help=True
)


@app.command("bounces")
def bounces() -> None:
    """Read the bounce mailbox (SINCRO_MESSAGING_BOUNCE_IMAP_URL) and apply hard bounces."""
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import bounces as box

    settings = get_settings()
    if not settings.messaging_bounce_imap_url:
        typer.echo("SINCRO_MESSAGING_BOUNCE_IMAP_URL não está definido.", err=True)
        raise typer.Exit(2)
    changed = box.read_mailbox(database_for(settings), settings)
    typer.echo(f"{changed} devoluções definitivas aplicadas")


@app.command("tick")
def tick() -> None:
    """Start due campaigns, reap dead claims, re-enqueue due retries (what beat does)."""
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import orchestrator

    settings = get_settings()
    typer.echo(str(orchestrator.tick(database_for(settings), settings)))


@app.command("status")
def status(campaign_id: int) -> None:
    """A campaign's state and counts."""
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.messaging import service

    db = database_for(get_settings())
    with db.read() as session:
        out = service.campaign_out(session, service.get_campaign(session, campaign_id))
    typer.echo(out.model_dump_json(indent=2))
