"""The commands: ingest with a progress bar, the file ledger, replay, and the simulated SAP
feeding ``sincro sync watch --inline`` end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from sincro import audit
from sincro.audit import AuditFilter
from sincro.cli import app
from sincro.cli_common import console as cli_console
from sincro.config import reset_settings
from sincro.connectors.models import ErpFile
from sincro.db import reset_databases
from tests.connectors.sap_files.conftest import World, sp, write

runner = CliRunner()


@pytest.fixture
def env(
    world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    source = world.cfg.model_dump(mode="json", exclude_none=True)
    source["snapshot_chunk_rows"] = 1000
    source["readiness"] = {"strategy": "rename"}
    connectors = tmp_path / "connectors.yaml"
    connectors.write_text(yaml.safe_dump({"sources": [source]}))
    values = {
        "SINCRO_DATABASE_URL": database_url,
        "SINCRO_VAR_DIR": str(tmp_path / "var"),
        "SINCRO_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "SINCRO_CONNECTORS_FILE": str(connectors),
        "SINCRO_LOG_JSON": "false",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    reset_databases()
    yield {**os.environ, **values}
    reset_settings()
    reset_databases()


def test_ingest_files_and_replay(world: World, env: dict[str, str], tmp_path: Path) -> None:
    good = write(tmp_path / "MB52_20261122_0600.csv", "MATNR;WERKS;LGORT;LABST\n4711;2001;0001;5\n")
    result = runner.invoke(app, ["sync", "ingest", str(good), "--source", "sap-test"])
    assert result.exit_code == 0, result.output
    assert "done" in result.output and "1 applied" in result.output
    bad = write(tmp_path / "MB52_20261122_0700.csv", "nada a ver\n")
    failed = runner.invoke(app, ["sync", "ingest", str(bad), "--source", "sap-test"])
    assert failed.exit_code == 1 and "no header line" in " ".join(failed.output.split())
    # the CLI's console may have fixed its width when it was created (e.g. from COLUMNS in a
    # test worker's environment): give the table room whatever ran before
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_console, "_width", 200)
        listing = runner.invoke(app, ["sync", "files", "--source", "sap-test"])
    assert (
        listing.exit_code == 0
        and "MB52_20261122_0600" in listing.output
        and "failed" in listing.output
    )
    with world.db.read() as s:
        bad_id = s.scalar(select(ErpFile.id).where(ErpFile.state == "failed"))
    replayed = runner.invoke(app, ["sync", "replay", str(bad_id)])
    assert replayed.exit_code == 0 and "queued" in replayed.output
    again = runner.invoke(app, ["sync", "replay", str(bad_id)])
    assert again.exit_code == 1 and "only failed files" in " ".join(again.output.split())
    with world.db.read() as s:
        [entry], _ = audit.read(s, AuditFilter(action="sync.replay"))
        assert (entry.actor_kind, entry.entity_id) == ("cli", str(bad_id))
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 5


def test_simulated_sap_feeds_the_watcher_end_to_end(world: World, env: dict[str, str]) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 40, sp(21, 10))
    world.erp_stock("CHP-000002", "CD01", 60, sp(21, 10))
    simulated = runner.invoke(
        app,
        ["simulate", "sap", "--source", "sap-test", "--ticks", "3", "--rate", "50",
         "--snapshot-every", "2", "--faults", "duplicate=1,latin1=0.5,gap=1"],
    )  # fmt: skip
    assert simulated.exit_code == 0, simulated.output
    dropped = sorted(p.name for p in world.cfg.inbox.iterdir())
    assert any(n.startswith("MB52_") for n in dropped) and any(
        n.startswith("DUP_") for n in dropped
    )
    assert not any(n.endswith(".tmp") for n in dropped)
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed with the test process
    watch = subprocess.Popen(
        [sys.executable, "-c", "from sincro.cli import main; main()", "sync", "watch", "--inline",
         "--writeback-every", "0.3"],
        env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip  # stderr to a file: a pipe nobody reads for 40 s could fill and stall it
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with world.db.read() as s:
                states = s.scalars(select(ErpFile.state).where(ErpFile.direction == "in")).all()
            if (
                len(states) == len(dropped)
                and "received" not in states
                and "processing" not in states
            ):
                break
            time.sleep(0.2)
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=30)
    log.seek(0)
    err = log.read()
    assert watch.returncode == 0, err
    assert "Traceback" not in err, err
    assert not any(world.cfg.inbox.iterdir())
    with world.db.read() as s:
        errors = s.scalars(select(ErpFile.error).where(ErpFile.state == "failed")).all()
    assert sorted(states).count("duplicate") >= 1 and "failed" not in states, (states, errors)
    assert world.verify() == []


def test_writeback_now_writes_the_sale_to_the_outbox(world: World, env: dict[str, str]) -> None:
    from tests.connectors.sap_files.test_writeback import sell

    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    sell(world, 3)
    result = runner.invoke(app, ["sync", "writeback", "--source", "sap-test"])
    assert result.exit_code == 0, result.output
    assert "criados 1, enviados 1" in result.output
    assert [p.name[:14] for p in world.cfg.outbox.iterdir()] == ["SINCRO_WMMBXY_"]
    unknown = runner.invoke(app, ["sync", "writeback", "--source", "nope"])
    assert unknown.exit_code == 1 and "no source 'nope'" in unknown.output
