"""The demo's simulated ERPs never abort on a taken port: free ports are picked, printed, and
the demo's connectors file points at them."""

from __future__ import annotations

import socket
from pathlib import Path

from sincro.config import Settings
from sincro.connectors.config import load_config
from sincro.demo.setup import demo_connectors_file, simulator_ports


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _urls(path: Path) -> dict[str, str]:
    config = load_config(path)
    return {
        code: str(getattr(config.source(code), "base_url", "")) for code in ("protheus", "docs")
    }


def test_taken_preferred_port_gives_other_free_ports() -> None:
    taken = _listening()
    try:
        busy = taken.getsockname()[1]
        first, second = simulator_ports(busy)
        assert busy not in (first, second) and first != second
        for port in (first, second):  # both can be listened on
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
    finally:
        taken.close()
    assert 0 not in simulator_ports(0)  # 0: always ports the system picks


def test_connectors_file_follows_the_chosen_ports(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="sqlite://")
    path = demo_connectors_file(settings, (41001, 41002))
    assert _urls(path) == {"protheus": "http://127.0.0.1:41001", "docs": "http://127.0.0.1:41002"}
    demo_connectors_file(settings, (42001, 42005))  # the next start got other ports
    assert _urls(path) == {"protheus": "http://127.0.0.1:42001", "docs": "http://127.0.0.1:42005"}
    # a file the operator wrote (not the generated one) is left alone
    path.write_text(path.read_text().replace("# The demo operator's ERPs", "# my ERPs", 1))
    demo_connectors_file(settings, (43001, 43002))
    assert _urls(path)["protheus"] == "http://127.0.0.1:42001"
