"""What a newcomer trips on around the demo: the connectors file found without environment
variables, and a smoke run that names the address it tried."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from rich.console import Console

from sincro.config import Settings, record_connectors_file
from sincro.db import Database
from sincro.demo.setup import demo_connectors_file


def test_the_demo_connectors_file_is_found_without_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SINCRO_CONNECTORS_FILE", raising=False)
    assert Settings(var_dir=tmp_path).connectors_file is None
    path = demo_connectors_file(Settings(var_dir=tmp_path), (8201, 8202))
    record_connectors_file(tmp_path, path)
    assert Settings(var_dir=tmp_path).connectors_file == path.resolve()
    other = tmp_path / "mine.yaml"
    other.write_text("sources: []\n")
    assert Settings(var_dir=tmp_path, connectors_file=other).connectors_file == other
    production = Settings(
        var_dir=tmp_path, mode="production", secret_key="x" * 40, database_url="sqlite://"
    )
    assert production.connectors_file is None  # production names its file explicitly
    path.unlink()
    assert Settings(var_dir=tmp_path).connectors_file is None  # a stale record is ignored


def test_smoke_names_the_address_it_tried(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.db import reset_databases
    from sincro.demo.smoke import run_smoke

    monkeypatch.setenv("SINCRO_DATABASE_URL", db.url)
    reset_databases()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = io.StringIO()
    url = f"http://127.0.0.1:{port}"
    assert run_smoke(url, Console(file=out, width=200)) is False
    assert url in out.getvalue()
    assert "--url" in out.getvalue()
    reset_databases()


def test_readme_examples_follow_the_configured_port() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    curls = [line for line in readme.splitlines() if line.lstrip().startswith(("curl", '"$S'))]
    assert curls and not [line for line in curls if ":8000" in line]
    assert 'S="http://127.0.0.1:${SINCRO_PORT:-8000}"' in readme
