"""The "Sincronização" console section: over HTTP (TestClient, both databases) and in
Chromium (one test, with a screenshot)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sincro import audit, text_pt
from sincro.alerts import Alert
from sincro.app import create_app
from sincro.audit import AuditFilter
from sincro.config import Settings, record_connectors_file
from sincro.connectors.backlog import check_backlog
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import ErpFile, SyncRun
from sincro.db import Database, utcnow
from tests.browser import LiveServer
from tests.connectors.test_status_api import configure_sap_source, seed_sync
from tests.console.support import csrf_of, seed_world, sign_in

SCREENSHOTS = Path("/tmp")


@pytest.fixture
def world(db: Database) -> dict[str, int]:
    with db.write() as session:
        seed_world(session)
        return seed_sync(session)


@pytest.fixture
def client(world: dict[str, int], settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        assert sign_in(client).status_code == 303
        yield client


def test_signed_out_goes_to_sign_in(settings: Settings, world: dict[str, int]) -> None:
    with TestClient(create_app(settings)) as anonymous:
        response = anonymous.get("/console/sync", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in?next=")
        assert anonymous.get("/console/sync/runs.json").status_code == 401


def test_sync_page(client: TestClient, world: dict[str, int]) -> None:
    page = client.get("/console/sync")
    assert page.status_code == 200
    html = page.text
    assert 'aria-current="page">Sincronização</a>' in html
    for text in (
        "fora do ar",  # protheus-ne status
        "Protheus (REST)",  # its kind, labelled by its plugin
        "aberto",  # its breaker
        "5 falhas",
        "3 h 05 min",  # data age
        "HTTP 503 do Protheus",
        "em andamento",
        "2.500 de 10.000 (25,0%)",  # pt-BR numbers
        "1.197",
        "MARD_20261122_0900.csv",
        "cabeçalho inválido",
        "Reprocessar",
        "acima do limite",
        "-1.000",  # largest drift first
        "Disjuntor aberto para protheus-ne",
    ):
        assert text in html, text
    assert "Dados antigos" not in html  # resolved alert
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", html)
    assert html.index("CHIP-5G") < html.index("CEL-A15")
    assert html.count(">Reprocessar</button>") == 1  # only the failed file


def test_file_filters(client: TestClient, world: dict[str, int]) -> None:
    html = client.get("/console/sync", params={"state": "done"}).text
    assert "MB51_20261122_0830.csv" in html and "MARD_20261122_0900.csv" not in html
    html = client.get("/console/sync", params={"source": "protheus-ne"}).text
    assert "Nenhum arquivo com esses filtros" in html


def test_file_page_lists_rejects(client: TestClient, world: dict[str, int]) -> None:
    html = client.get(f"/console/sync/files/{world['done']}").text
    assert "1–3 de 3 rejeições" in html
    rows = re.findall(r"<td class=\"num\">(\d+)</td>\s*<td class=\"mono\">4900001234", html)
    assert rows == ["3", "17", "42"]
    assert "&lt;Z9&gt;" in html and "<Z9>" not in html  # values are escaped
    assert "Reprocessar" not in html
    missing = client.get("/console/sync/files/999999")
    assert missing.status_code == 404 and "Arquivo não encontrado" in missing.text


def test_replay_button(
    db: Database,
    client: TestClient,
    world: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from sincro.worker import celery_app

    quarantined = configure_sap_source(tmp_path, monkeypatch)
    with db.write() as s:
        s.execute(
            update(ErpFile).where(ErpFile.id == world["failed"]).values(path=str(quarantined))
        )

    sent: list[Any] = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args=None, **kw: sent.append(list(args))
    )
    file_id = world["failed"]
    page = client.get(f"/console/sync/files/{file_id}")
    assert "Reprocessar" in page.text
    refused = client.post(f"/console/sync/files/{file_id}/replay", data={"csrf": "x"})
    assert refused.status_code == 400 and sent == []
    response = client.post(
        f"/console/sync/files/{file_id}/replay",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/sync?replayed={file_id}"
    assert sent == [[file_id]]
    html = client.get(response.headers["location"]).text
    assert f"Arquivo nº {file_id} enviado para reprocessamento." in html
    again = client.post(f"/console/sync/files/{file_id}/replay", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409
    assert "não pode ser reprocessado" in again.text
    with db.read() as s:
        [entry], _ = audit.read(s, AuditFilter(action="sync.replay"))
        assert (entry.actor_kind, entry.entity_id) == ("user", str(file_id))


def test_progress_endpoint(client: TestClient, world: dict[str, int], db: Database) -> None:
    run_id = world["running_run"]
    body = client.get("/console/sync/runs.json").json()
    assert [(r["id"], r["percent"], r["text"]) for r in body["runs"]] == [
        (run_id, 25.0, "2.500 de 10.000")
    ]
    with db.write() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(status="succeeded", progress_done=10000)
        )
    assert client.get("/console/sync/runs.json").json()["runs"] == []
    finished = client.get("/console/sync/runs.json", params={"ids": str(run_id)}).json()["runs"]
    assert (finished[0]["status_label"], finished[0]["running"]) == ("concluída", False)


@pytest.mark.browser
def test_sync_page_in_a_browser(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    with live_server.db.write() as session:
        ids = seed_sync(session)
    page.click("nav.nav a:has-text('Sincronização')")
    page.wait_for_url(re.compile(r"/console/sync$"))
    row = page.locator("#sources-table tr[data-source='protheus-ne']")
    assert "fora do ar" in row.inner_text() and "aberto" in row.inner_text()
    bar = page.locator(f"#runs-table tr[data-run-id='{ids['running_run']}'] progress")
    assert bar.get_attribute("value") == "2500"
    # the poll finishes the run on the page without a reload
    with live_server.db.write() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == ids["running_run"])
            .values(status="succeeded", progress_done=10000)
        )
    page.wait_for_selector(
        f"#runs-table tr[data-run-id='{ids['running_run']}']:not([data-running])"
    )
    page.screenshot(path=str(SCREENSHOTS / "console-sync.png"), full_page=True)
    page.click("#files-table a:has-text('MB51_20261122_0830.csv')")
    page.wait_for_url(re.compile(rf"/console/sync/files/{ids['done']}$"))
    lines = page.locator("#rejects-table tbody tr td:first-child").all_inner_texts()
    assert lines == ["3", "17", "42"]
    page.screenshot(path=str(SCREENSHOTS / "console-sync-file.png"), full_page=True)


RAW_VALUE = re.compile(
    r">\s*(closed|open|half_open|running|succeeded|partial|failed|received|processing|done|"
    r"schedule|manual|goods_movements|stock_snapshot|writeback_ack|products|stock|"
    r"missing_field|bad_number|snapshot|movements|in|out)\s*<"
)


def _add_files(db: Database, count: int, age: dt.timedelta, state: str = "received") -> None:
    received = utcnow().replace(microsecond=0) - age
    with db.write() as session:
        for i in range(count):
            session.add(
                ErpFile(
                    source="sap-sp",
                    direction="in",
                    kind="movements",
                    name=f"MB51_{i}.csv",
                    sha256=f"{i:064d}",
                    state=state,
                    received_at=received,
                )
            )


def test_sync_page_shows_no_raw_codes(client: TestClient, db: Database) -> None:
    with db.write() as session:
        session.add(
            SyncRun(source="sap-sp", entity="goods_movements", trigger="event", status="succeeded")
        )
    html = client.get("/console/sync").text
    assert "movimentos de mercadoria" in html
    assert not RAW_VALUE.findall(html), RAW_VALUE.findall(html)
    assert "goods_movements" not in html


def test_file_page_labels_reject_rules(client: TestClient, world: dict[str, int]) -> None:
    html = client.get(f"/console/sync/files/{world['done']}").text
    assert not RAW_VALUE.findall(html), RAW_VALUE.findall(html)


def test_times_follow_the_operator_zone(
    world: dict[str, int], settings: Settings, db: Database
) -> None:
    _add_files(db, 1, dt.timedelta(0))
    with db.read() as session:
        received = session.scalars(
            select(ErpFile.received_at).where(ErpFile.name == "MB51_0.csv")
        ).one()
    for zone in ("America/Sao_Paulo", "America/Rio_Branco"):
        local = settings.model_copy(update={"console_time_zone": zone})
        with TestClient(create_app(local)) as c:
            assert sign_in(c).status_code == 303
            html = c.get("/console/sync").text
        assert text_pt.datetime_br(received, zone) in html, zone
    with pytest.raises(ValueError, match="time zone"):
        Settings(console_time_zone="Mars/Olympus")


def test_file_backlog_is_visible_and_alarming(
    client: TestClient, settings: Settings, db: Database
) -> None:
    _add_files(db, 2, dt.timedelta(minutes=3))
    html = client.get("/console/sync").text
    assert "Fila de arquivos do ERP" in html and "normal" in html
    _add_files(db, 1, dt.timedelta(hours=2))
    html = client.get("/console/sync").text
    row = html[html.index('id="backlog-table"') :]
    assert "acumulando" in row and ">3<" in row and "2 h 00 min" in row
    config = ConnectorsConfig.model_validate(
        {
            "sources": [
                {
                    "code": "sap-sp",
                    "kind": "sap_files",
                    "name": "SAP SP",
                    "inbox": "/tmp/i",
                    "outbox": "/tmp/o",
                }
            ]
        }
    )
    with db.write() as session:
        assert check_backlog(session, settings, config) == ["sap-sp"]
    with db.read() as session:
        alert = session.scalars(select(Alert).where(Alert.kind == "file_backlog")).one()
    assert alert.resolved_at is None and "3 arquivo(s)" in alert.message
    with db.write() as session:
        session.execute(update(ErpFile).where(ErpFile.state == "received").values(state="done"))
        assert check_backlog(session, settings, config) == []
    with db.read() as session:
        assert session.scalars(select(Alert.resolved_at).where(Alert.kind == "file_backlog")).one()


def test_next_runs_without_environment_variables(
    world: dict[str, int], settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.connectors.rest.conftest import rest_config

    monkeypatch.delenv("SINCRO_CONNECTORS_FILE", raising=False)
    data = rest_config("http://127.0.0.1:1").model_dump(mode="json", exclude_none=True)
    data["sources"][0]["code"] = "protheus-ne"
    path = tmp_path / "demo-connectors.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    record_connectors_file(tmp_path, path)
    recorded = Settings(
        database_url=settings.database_url,
        broker_url=settings.broker_url,
        var_dir=tmp_path,
        log_json=False,
        availability_warm_skus=0,
    )
    with TestClient(create_app(recorded)) as c:
        assert sign_in(c).status_code == 303
        html = c.get("/console/sync").text
    row = html[html.index('data-source="protheus-ne"') :].split("</tr>")[0]
    cells = re.findall(r'<td class="nowrap">([^<]*)</td>', row)
    assert len(cells) == 3 and re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", cells[2]), cells
