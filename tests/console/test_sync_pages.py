"""The "Sincronização" console section: over HTTP (TestClient, both databases) and in
Chromium (one test, with a screenshot)."""

# ruff: noqa: F811  (the browser fixtures are imported by name, then requested)

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from sincro import audit
from sincro.app import create_app
from sincro.audit import AuditFilter
from sincro.config import Settings
from sincro.connectors.models import ErpFile, SyncRun
from sincro.db import Database
from tests.connectors.test_status_api import configure_sap_source, seed_sync
from tests.console.support import csrf_of, seed_world, sign_in
from tests.console.test_browser import (  # noqa: F401  (fixtures)
    LiveServer,
    browser,
    live_server,
    page,
    signed_in,
)

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
