"""``sincro sync``/``sincro simulate`` commands of the REST ERPs."""

from __future__ import annotations

from sincro.connectors.cli import simulate_app, sync_app  # noqa: F401
