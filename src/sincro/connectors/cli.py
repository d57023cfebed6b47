"""``sincro sync …`` and ``sincro simulate …`` commands (ERP connectors)."""

from __future__ import annotations

import typer

sync_app = typer.Typer(help="ERP sync: sources, runs, files, replays.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulated ERPs for the demo and the tests.", no_args_is_help=True)

# Each source kind registers its commands on the apps above.
from sincro.connectors.rest import cli as _rest_cli  # noqa: E402, F401
from sincro.connectors.sap_files import cli as _sap_cli  # noqa: E402, F401
