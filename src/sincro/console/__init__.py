"""The web console (pt-BR), served by the api from Jinja2 templates and local static files."""

from __future__ import annotations

from fastapi import FastAPI


def mount_console(app: FastAPI) -> None:
    """Attach the console's routes and static files to the api application."""
    return None
