"""``/v1/sync``: sources, runs, the file ledger, rejects, replays, reports and alerts, on
SQLite and PostgreSQL. The data is written the way the connectors write it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from sincro import audit
from sincro.access.models import Role
from sincro.alerts import Alert
from sincro.app import create_app
from sincro.audit import AuditFilter
from sincro.config import Settings, reset_settings
from sincro.connectors.models import (
    BreakerState,
    ErpFile,
    ReconciliationReport,
    SyncReject,
    SyncRun,
    SyncSource,
)
from sincro.db import Database, utcnow
from tests.factories import make_key


def configure_sap_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A connectors file declaring the seeded ``sap-sp`` source, and the seeded failed file
    sitting in its quarantine folder, as the SAP file service would have left it."""
    inbox, quarantine = tmp_path / "sap" / "inbox", tmp_path / "sap" / "quarantine"
    quarantine.mkdir(parents=True)
    inbox.mkdir(parents=True)
    (quarantine / "MARD_20261122_0900.csv").write_text("not a snapshot\n", encoding="utf-8")
    connectors = tmp_path / "connectors.yaml"
    connectors.write_text(
        "sources:\n"
        "  - {code: sap-sp, kind: sap_files, name: SAP SP,"
        f" inbox: '{inbox}', outbox: '{inbox.parent / 'outbox'}',"
        f" quarantine: '{quarantine}'}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SINCRO_CONNECTORS_FILE", str(connectors))
    reset_settings()
    return quarantine / "MARD_20261122_0900.csv"


def seed_sync(session: Session, quarantined: Path | None = None) -> dict[str, int]:
    """Two sources (one healthy, one down with its breaker open), runs, files with rejects,
    a drift report and alerts."""
    NOW = utcnow().replace(microsecond=0)
    session.add_all(
        [
            SyncSource(
                code="sap-sp",
                kind="sap_files",
                name="SAP ECC São Paulo",
                status="ok",
                last_run_at=NOW - dt.timedelta(minutes=5),
                last_success_at=NOW - dt.timedelta(minutes=5),
                data_as_of=NOW - dt.timedelta(minutes=12),
            ),
            SyncSource(
                code="protheus-ne",
                kind="protheus_rest",
                name="Protheus Nordeste",
                status="down",
                last_run_at=NOW - dt.timedelta(minutes=2),
                last_success_at=NOW - dt.timedelta(hours=3),
                data_as_of=NOW - dt.timedelta(hours=3, minutes=5),
                last_error="HTTP 503 do Protheus: serviço indisponível",
            ),
        ]
    )
    session.flush()
    session.add(BreakerState(source="protheus-ne", state="open", failures=5, opened_at=NOW))
    runs = [
        SyncRun(
            source="sap-sp",
            entity="stock",
            trigger="event",
            status="running",
            started_at=NOW - dt.timedelta(minutes=1),
            records_in=4000,
            records_applied=2500,
            progress_done=2500,
            progress_total=10000,
        ),
        SyncRun(
            source="sap-sp",
            entity="movements",
            trigger="schedule",
            status="partial",
            started_at=NOW - dt.timedelta(minutes=30),
            finished_at=NOW - dt.timedelta(minutes=29),
            records_in=1200,
            records_applied=1197,
            records_rejected=3,
            progress_done=1200,
            progress_total=1200,
        ),
        SyncRun(
            source="protheus-ne",
            entity="stock",
            trigger="schedule",
            status="failed",
            started_at=NOW - dt.timedelta(minutes=2),
            finished_at=NOW - dt.timedelta(minutes=2),
            error="HTTP 503",
        ),
    ]
    session.add_all(runs)
    session.flush()
    done = ErpFile(
        source="sap-sp",
        direction="in",
        kind="movements",
        name="MB51_20261122_0830.csv",
        size=48213,
        sha256="a" * 64,
        state="done",
        rows_total=1200,
        rows_applied=1197,
        rows_rejected=3,
        received_at=NOW - dt.timedelta(minutes=31),
        finished_at=NOW - dt.timedelta(minutes=29),
    )
    failed = ErpFile(
        source="sap-sp",
        direction="in",
        kind="snapshot",
        name="MARD_20261122_0900.csv",
        size=1024,
        sha256="b" * 64,
        state="failed",
        path=str(quarantined) if quarantined else None,
        error="cabeçalho inválido: coluna LABST ausente",
        received_at=NOW - dt.timedelta(minutes=3),
    )
    session.add_all([done, failed])
    session.flush()
    session.add_all(
        [
            SyncReject(
                source="sap-sp",
                entity="movements",
                run_id=runs[1].id,
                file_id=done.id,
                line=line,
                record_key=f"4900001234/2026/{line}",
                field=field,
                rule=rule,
                value=value,
                message=message,
            )
            for line, field, rule, value, message in [
                (17, "MATNR", "unknown_product", "000000000000999999", "Material sem cadastro"),
                (3, "MENGE", "not_a_number", "12,5,0", "Quantidade inválida"),
                (42, "WERKS", "unknown_location", "<Z9>", "Centro não mapeado"),
            ]
        ]
    )
    session.add(
        ReconciliationReport(
            source="sap-sp",
            file_id=done.id,
            as_of=NOW - dt.timedelta(hours=1),
            positions=18000,
            positions_with_drift=3,
            units_expected=250000,
            units_reported=249020,
            units_drift_abs=1010,
            largest=[
                {
                    "sku": "CEL-A15",
                    "location": "LJ-SP-PAULISTA",
                    "expected": 12,
                    "reported": 2,
                    "drift": -10,
                },
                {
                    "sku": "CHIP-5G",
                    "location": "CD-CAJAMAR",
                    "expected": 5000,
                    "reported": 4000,
                    "drift": -1000,
                },
            ],
            threshold_exceeded=True,
        )
    )
    session.add_all(
        [
            Alert(
                kind="breaker_open",
                source="protheus-ne",
                severity="critical",
                message="Disjuntor aberto para protheus-ne após 5 falhas",
                created_at=NOW - dt.timedelta(minutes=2),
            ),
            Alert(
                kind="stale_source",
                source="sap-sp",
                severity="warning",
                message="Dados antigos",
                created_at=NOW - dt.timedelta(days=1),
                resolved_at=NOW - dt.timedelta(hours=20),
            ),
        ]
    )
    session.flush()
    return {"done": done.id, "failed": failed.id, "running_run": runs[0].id}


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[dict[str, Any]]:
    with db.write() as session:
        ids = seed_sync(session)
        admin = make_key(session, Role.admin)
        channel = make_key(session, Role.channel)
    with TestClient(create_app(settings)) as client:
        yield {
            "client": client,
            "ids": ids,
            "admin": {"X-API-Key": admin},
            "channel": {"X-API-Key": channel},
        }


def get(api: dict[str, Any], path: str, **params: Any) -> Any:
    response = api["client"].get(path, params=params, headers=api["channel"])
    assert response.status_code == 200, response.text
    return response.json()


def test_sources(api: dict[str, Any]) -> None:
    items = {s["source"]: s for s in get(api, "/v1/sync/sources")["items"]}
    assert list(items) == ["protheus-ne", "sap-sp"]
    down, ok = items["protheus-ne"], items["sap-sp"]
    assert (down["status"], down["breaker"], down["breaker_failures"]) == ("down", "open", 5)
    assert down["last_error"].startswith("HTTP 503")
    assert 3 * 3600 + 5 * 60 <= down["data_age_seconds"] < 3 * 3600 + 6 * 60
    assert (ok["breaker"], ok["next_run_at"], ok["running"]) == (None, None, 1)
    assert ok["kind"] == "sap_files" and ok["last_success_at"] is not None


def test_runs_paginated_and_filtered(api: dict[str, Any]) -> None:
    page = get(api, "/v1/sync/runs", source="sap-sp", limit=1)
    assert (page["total"], page["limit"], len(page["items"])) == (2, 1, 1)
    running = page["items"][0]
    assert (running["status"], running["progress_percent"]) == ("running", 25.0)
    assert get(api, "/v1/sync/runs", source="sap-sp", offset=1)["items"][0]["status"] == "partial"
    assert get(api, "/v1/sync/runs", status="failed")["items"][0]["source"] == "protheus-ne"
    assert get(api, "/v1/sync/runs")["total"] == 3


def test_file_ledger(api: dict[str, Any]) -> None:
    page = get(api, "/v1/sync/files", source="sap-sp")
    assert [f["name"] for f in page["items"]] == [
        "MARD_20261122_0900.csv",
        "MB51_20261122_0830.csv",
    ]
    failed = page["items"][0]
    assert (failed["state"], failed["replayable"]) == ("failed", True)
    assert failed["error"].startswith("cabeçalho inválido")
    done = get(api, "/v1/sync/files", state="done")["items"]
    assert [(f["rows_applied"], f["rows_rejected"], f["replayable"]) for f in done] == [
        (1197, 3, False)
    ]


def test_rejects_of_a_file(api: dict[str, Any]) -> None:
    page = get(api, f"/v1/sync/files/{api['ids']['done']}/rejects")
    assert page["total"] == 3
    assert [(r["line"], r["field"], r["rule"]) for r in page["items"]] == [
        (3, "MENGE", "not_a_number"),
        (17, "MATNR", "unknown_product"),
        (42, "WERKS", "unknown_location"),
    ]
    assert page["items"][0]["value"] == "12,5,0" and page["items"][0]["message"]
    missing = api["client"].get("/v1/sync/files/999999/rejects", headers=api["channel"])
    assert missing.status_code == 404


def test_reports_and_alerts(api: dict[str, Any]) -> None:
    report = get(api, "/v1/sync/reports")["items"][0]
    assert report["threshold_exceeded"] and report["units_drift_abs"] == 1010
    assert [d["sku"] for d in report["largest"]] == ["CHIP-5G", "CEL-A15"]  # largest first
    assert [a["kind"] for a in get(api, "/v1/sync/alerts", open="true")["items"]] == [
        "breaker_open"
    ]
    assert [a["kind"] for a in get(api, "/v1/sync/alerts", open="false")["items"]] == [
        "stale_source"
    ]
    assert get(api, "/v1/sync/alerts")["total"] == 2


def test_replay_a_failed_file(
    db: Database, api: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sincro.worker import celery_app

    quarantined = configure_sap_source(tmp_path, monkeypatch)
    with db.write() as s:
        s.execute(
            update(ErpFile).where(ErpFile.id == api["ids"]["failed"]).values(path=str(quarantined))
        )

    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args)))
    )
    file_id = api["ids"]["failed"]
    path = f"/v1/sync/files/{file_id}/replay"
    assert api["client"].post(path, headers=api["channel"]).status_code == 403
    assert sent == []
    response = api["client"].post(path, headers=api["admin"])
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["file"]["state"] == "received" and body["file"]["error"] is None
    assert body["task"] == "sincro.connectors.ingest.process_file"
    assert sent == [("sincro.connectors.ingest.process_file", [file_id])]
    again = api["client"].post(path, headers=api["admin"])  # now received: not replayable
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    done = api["client"].post(f"/v1/sync/files/{api['ids']['done']}/replay", headers=api["admin"])
    assert done.status_code == 409
    assert (
        api["client"].post("/v1/sync/files/999999/replay", headers=api["admin"]).status_code == 404
    )
    assert len(sent) == 1
    with db.read() as s:
        [entry], _ = audit.read(s, AuditFilter(action="sync.replay"))
        assert (entry.actor_kind, entry.entity_type, entry.entity_id) == (
            "key", "erp_file", str(file_id)
        )  # fmt: skip
        assert (entry.before["state"], entry.after["state"]) == ("failed", "received")


def test_sync_api_needs_a_key(api: dict[str, Any]) -> None:
    assert api["client"].get("/v1/sync/sources").status_code == 401
