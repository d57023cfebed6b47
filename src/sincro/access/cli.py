"""``sincro keys …`` and ``sincro users …``: API keys and console users."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from sincro.cli_common import console, fail
from sincro.text_pt import datetime_br

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
users_app = typer.Typer(help="Console users.", no_args_is_help=True)


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
        fail(f"--role must be one of: {', '.join(r.value for r in Role)}")
    try:
        with get_database().write() as session:
            key, plaintext = access.create_key(
                session, name or f"{role}-key", chosen, location or [], rate_limit
            )
    except SincroError as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
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
                datetime_br(key.created_at),
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
        fail(exc.message)
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
    from sincro.db import get_database
    from sincro.errors import SincroError

    try:
        with get_database().write() as session:
            access.create_user(session, email, name, password, role)
    except (SincroError, ValueError) as exc:
        fail(getattr(exc, "message", str(exc)))
    console.print(f"[green]✓[/] user {email} created")
