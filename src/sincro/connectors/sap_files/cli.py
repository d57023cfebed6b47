"""``sincro sync``/``sincro simulate`` commands of the SAP file drops."""

from __future__ import annotations

from sincro.connectors.cli import simulate_app, sync_app  # noqa: F401
