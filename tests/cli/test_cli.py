"""The sincro command line, run in process against a migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from sincro.cli import app
from sincro.config import reset_settings
from sincro.db import Database, reset_databases
from sincro.inventory.models import StockLevel
from tests.factories import make_location, make_product, receive

runner = CliRunner()


@pytest.fixture
def env(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Database:
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    reset_databases()
    yield db
    reset_settings()
    reset_databases()


def test_keys_create_prints_the_key_once(env: Database) -> None:
    with env.write() as s:
        make_location(s, code="LJ7")
    result = runner.invoke(app, ["keys", "create", "--role", "store", "--location", "LJ7"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("sk_")
    listed = runner.invoke(app, ["keys", "list"])
    assert "store" in listed.output and "sk_" not in listed.output


def test_keys_create_rejects_bad_input(env: Database) -> None:
    bad_role = runner.invoke(app, ["keys", "create", "--role", "boss"])
    assert bad_role.exit_code == 1 and "--role must be one of" in bad_role.output
    unknown = runner.invoke(app, ["keys", "create", "--role", "store", "--location", "NOPE"])
    assert unknown.exit_code == 1 and "NOPE" in unknown.output


def test_verify_finds_and_names_a_tampered_level(env: Database) -> None:
    with env.write() as s:
        make_location(s, code="LJ8")
        make_product(s, sku="VER-1")
    with env.write() as s:
        receive(s, "VER-1", "LJ8", 5)
    ok = runner.invoke(app, ["inventory", "verify"])
    assert ok.exit_code == 0 and "every stock level equals its ledger" in ok.output
    with env.write() as s:  # a change that bypasses the ledger
        s.execute(update(StockLevel).values(on_hand=StockLevel.on_hand + 2))
    bad = runner.invoke(app, ["inventory", "verify"])
    assert bad.exit_code == 1
    assert "VER-1" in bad.output and "LJ8" in bad.output and "on_hand" in bad.output
