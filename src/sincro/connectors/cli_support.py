"""What every connector command shares beyond the kernel's CLI helpers (``cli_common``): loading the
connectors file, and stopping on Ctrl+C/SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from sincro.cli_common import fail

if TYPE_CHECKING:
    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig


def load() -> tuple[Settings, ConnectorsConfig]:
    """The settings and the connectors file; a bad file fails the command with its error."""
    from sincro.config import get_settings
    from sincro.connectors.config import load_config
    from sincro.errors import SincroError

    settings = get_settings()
    try:
        return settings, load_config(settings.connectors_file)
    except SincroError as exc:
        fail(exc.message)


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl+C or SIGTERM."""
    stop = threading.Event()

    def handler(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
