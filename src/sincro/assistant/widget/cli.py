"""``sincro assistant site-key …``: the widget's publishable keys from the command line."""

from __future__ import annotations

import typer
from rich.table import Table

from sincro.cli_common import console

site_key_app = typer.Typer(help="Site keys of the web chat widget.", no_args_is_help=True)


def allow_http() -> bool:
    from sincro.config import get_settings

    settings = get_settings()
    setting = settings.assistant_site_key_allow_http
    return settings.mode == "embedded" if setting is None else setting


@site_key_app.command("create")
def create(
    origin: list[str] = typer.Option(..., "--origin", help="https://host[:port]; repeatable"),
    name: str = typer.Option("site", "--name", help="a label for people"),
    rate: int = typer.Option(None, "--rate", min=1, help="requests per minute over all addresses"),
) -> None:
    """Create a key bound to ORIGIN(s) and print the one script tag to paste in the page."""
    from sincro.assistant.widget import sitekeys
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.errors import SincroError

    settings = get_settings()
    try:
        with database_for(settings).write() as session:
            key = sitekeys.create(
                session, name, origin, allow_http=allow_http(), rate_limit_per_minute=rate
            )
            public_key, origins = key.public_key, list(key.origins)
    except SincroError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"site key [bold]{public_key}[/] for {', '.join(origins)}", highlight=False)
    console.print(
        f'<script src="https://SINCRO-HOST/assistant/widget.js" data-site-key="{public_key}" '
        "async></script>",
        highlight=False,
        markup=False,
    )


@site_key_app.command("list")
def list_keys() -> None:
    """Every site key, its origins and whether it is active."""
    from sincro.assistant.widget import sitekeys
    from sincro.config import get_settings
    from sincro.db import database_for

    table = Table("id", "name", "key", "origins", "active")
    with database_for(get_settings()).read() as session:
        for key in sitekeys.list_keys(session):
            table.add_row(
                str(key.id), key.name, key.public_key, " ".join(key.origins), str(key.active)
            )
    console.print(table)


@site_key_app.command("revoke")
def revoke(key_id: int = typer.Argument(..., help="the key's id (see list)")) -> None:
    """Revoke a key: its pages can no longer open or continue conversations."""
    from sincro.assistant.widget import sitekeys
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.errors import SincroError

    try:
        with database_for(get_settings()).write() as session:
            sitekeys.revoke(session, key_id)
    except SincroError as exc:
        console.print(f"[red]{exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"site key {key_id} revoked")
