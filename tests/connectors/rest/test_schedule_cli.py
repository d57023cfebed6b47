"""Beat entries from the connectors file, the Celery fan-out plan, and the CLI commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from celery.schedules import crontab
from typer.testing import CliRunner

from sincro.cli import app
from sincro.config import Settings, reset_settings
from sincro.connectors.config import load_config
from sincro.connectors.schedule import alerts_to_notify, beat_entries
from sincro.db import Database, reset_databases
from sincro.errors import InvalidInput
from sincro.simulators.rest import DocumentsSimulator, ProtheusSimulator
from tests.connectors.rest.conftest import rest_config

runner = CliRunner()


def write_config(path: Path, protheus_url: str, documents_url: str) -> Path:
    data = rest_config(protheus_url, documents_url).model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_beat_entries_follow_the_cron_expressions(tmp_path: Path) -> None:
    path = write_config(tmp_path / "connectors.yaml", "http://127.0.0.1:1", "http://127.0.0.1:2")
    entries = beat_entries(config=load_config(path))
    source = entries["sync-protheus"]
    assert source["task"] == "sincro.connectors.sync_source"
    assert source["args"] == ("protheus", "schedule")
    assert source["schedule"] == crontab(minute="*/15")
    products = entries["sync-protheus-products"]
    assert products["task"] == "sincro.connectors.sync_entity"
    assert products["schedule"] == crontab(minute="0")
    assert entries["connectors-notify-alerts"]["schedule"] == 30.0
    assert entries["connectors-notify-alerts"]["gate"] is alerts_to_notify
    assert entries["connectors-check-staleness"]["schedule"] == 60.0
    assert entries["writeback-protheus"]["args"] == ("protheus",)
    assert "sync-docs" not in entries  # no schedule of its own


def test_bad_cron_and_secrets_policy_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    data = rest_config("http://127.0.0.1:1").model_dump(mode="json", exclude_none=True)
    data["sources"][0]["schedule"] = "every minute"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput, match=r"sources\.0\.protheus_rest\.schedule.*5 fields"):
        load_config(path)
    data["sources"][0]["schedule"] = "* * * * *"
    data["sources"][0]["auth"] = {"kind": "bearer", "token": "s3cr3t"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput, match="auth"):
        load_config(path)


@pytest.fixture
def cli_env(
    db: Database,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    protheus: ProtheusSimulator,
    documents: DocumentsSimulator,
) -> Iterator[Database]:
    from sincro.demo.loader import load_demo

    db.dispose()
    load_demo(db.url, stores=2, dcs=1, products=20)
    path = write_config(tmp_path / "connectors.yaml", protheus.url, documents.url)
    monkeypatch.setenv("SINCRO_DATABASE_URL", db.url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SINCRO_CONNECTORS_FILE", str(path))
    reset_settings()
    reset_databases()
    yield db
    reset_settings()
    reset_databases()


def test_sync_run_and_status(cli_env: Database) -> None:
    aliases = runner.invoke(app, ["simulate", "alias-locations", "protheus"])
    assert aliases.exit_code == 0 and "3 location aliases" in aliases.output
    result = runner.invoke(app, ["sync", "run", "--source", "protheus", "--entity", "products"])
    assert result.exit_code == 0, result.output
    assert "products" in result.output and "succeeded" in result.output
    result = runner.invoke(app, ["sync", "run", "--sequential"])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output and "receivables" in result.output
    status = runner.invoke(app, ["sync", "status"])
    assert status.exit_code == 0, status.output
    assert "protheus" in status.output and "ok" in status.output and "closed" in status.output
    unknown = runner.invoke(app, ["sync", "run", "--source", "nope"])
    assert unknown.exit_code == 1 and "no source 'nope'" in unknown.output
    sent = runner.invoke(app, ["sync", "writeback", "--source", "protheus"])
    assert sent.exit_code == 0 and "criados 0" in sent.output, sent.output
    refused = runner.invoke(app, ["sync", "writeback", "--source", "docs"])
    assert refused.exit_code == 1 and "REST (JSON)" in refused.output


def test_celery_tasks_fan_out_and_run(cli_env: Database) -> None:
    """The Celery tasks, run eagerly in process (same code path the workers run)."""
    from sqlalchemy import select

    from sincro.connectors import tasks
    from sincro.connectors.models import SyncRun
    from sincro.worker import celery_app

    celery_app.conf.task_always_eager = True
    try:
        planned = tasks.sync_source.delay("protheus", "manual").get()
        assert planned == ["products", "stock", "customers", "receivables"]
        assert tasks.sync_entity.delay("docs", "documents", "manual").get() == "succeeded"
        assert tasks.check_staleness.delay().get() == []
        assert tasks.notify_alerts.delay().get() == 0
        assert tasks.rest_writeback.delay("protheus").get()["created"] == 0
    finally:
        celery_app.conf.task_always_eager = False
    with cli_env.read() as session:
        runs = session.execute(select(SyncRun.entity, SyncRun.trigger, SyncRun.status)).all()
    assert sorted(runs) == sorted(
        [
            ("customers", "manual", "succeeded"),
            ("documents", "manual", "succeeded"),
            ("products", "manual", "succeeded"),
            ("receivables", "manual", "succeeded"),
            ("stock", "manual", "partial"),  # no location aliases: every balance is rejected
        ]
    )


def test_alert_delivery_is_sent_only_with_a_channel_and_an_alert_waiting(
    tmp_path: Path, settings: Settings, db: Database
) -> None:
    from sincro.connectors.alerts import ALERTS

    with db.write() as session:
        ALERTS.raise_alert(session, "sync_failed", "Origem protheus parada.", source="protheus")
    no_file = settings.model_copy(update={"connectors_file": tmp_path / "absent.yaml"})
    assert not alerts_to_notify(db, no_file)  # no channel configured: no task, no query
    path = write_config(tmp_path / "connectors.yaml", "http://127.0.0.1:1", "http://127.0.0.1:2")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["alerts"] = {"slack_webhook_url": "http://127.0.0.1:9/hook"}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    configured = settings.model_copy(update={"connectors_file": path})
    assert alerts_to_notify(db, configured)
