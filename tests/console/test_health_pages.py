"""The console's "Saúde" page: over HTTP (TestClient, both databases) for admins, other roles
and signed-out visitors, and in Chromium (chart drawn, times in the viewer's zone, the live
part refreshed)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from sincro import health_store
from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.console.ops import routes
from sincro.db import Database, utcnow
from tests.browser import LiveServer, open_page, sign_in as browser_sign_in
from tests.console.support import seed_world, sign_in

STORE_EMAIL = "loja@example.com"
STORE_PASSWORD = "senha-da-loja-123"


def report(db: Database, pid: int, kind: str, seen: dt.datetime, **extra: Any) -> str:
    instance = f"console-host:{pid}"
    row = {
        "instance": instance,
        "kind": kind,
        "host": "console-host",
        "pid": pid,
        "parent": None,
        "version": "1.2.3",
        "queues": [],
        "interval_seconds": 10.0,
        "started_at": seen - dt.timedelta(minutes=30),
        "last_seen": seen,
        "stopped_at": None,
        "errors": [],
        "figures": {},
        **extra,
    }
    with db.write() as session:
        health_store.upsert_heartbeat(session, row)
    return instance


def depths(db: Database, now: dt.datetime) -> None:
    with db.write() as session:
        for minutes, depth in ((40, 3), (20, 1800), (0, 2400)):
            at = now - dt.timedelta(minutes=minutes)
            health_store.record_depths(session, {"sync": depth, "default": 0}, at)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as session:
        seed_world(session)
        access.create_user(session, STORE_EMAIL, "Equipe da Loja", STORE_PASSWORD, Role.store)
    with TestClient(create_app(settings)) as client:
        yield client


def test_admin_sees_services_queues_and_errors(client: TestClient, db: Database) -> None:
    now = utcnow()
    error = {
        "at": now.isoformat(),
        "level": "ERROR",
        "logger": "sincro.connectors",
        "message": "falha ao ler <arquivo> de [dado pessoal removido]",
    }
    report(db, 1, "worker", now, queues=["sync", "ingest"], errors=[error])
    report(db, 2, "worker", now, parent="console-host:1")
    report(db, 4, "worker", now - dt.timedelta(minutes=9), parent="console-host:1")  # replaced
    report(db, 3, "beat", now - dt.timedelta(minutes=5))
    depths(db, now)
    assert sign_in(client).status_code == 303
    page = client.get("/console/health")
    assert page.status_code == 200
    html = page.text
    assert "Saúde dos serviços" in html and 'class="active"' in html
    assert 'data-instance="console-host:1" data-status="ok"' in html
    assert 'data-instance="console-host:3" data-status="down"' in html
    assert "↳ processo de tarefas" in html  # the pool process under its worker
    assert 'data-instance="console-host:4"' not in html  # a replaced one is only counted
    assert "1 processo de tarefas encerrado" in html
    assert "sync, ingest" in html and "1.2.3" in html
    assert "falha ao ler &lt;arquivo&gt;" in html  # escaped
    assert 'data-queue="sync" class="warn-row"' in html  # above 1.000 for 20 min
    assert re.search(r'data-queue="sync"[^>]*>.*?2\.400', html, re.S)
    assert 'canvas data-chart="queue-depths-data"' in html
    assert "<script>" not in html  # CSP: no inline script
    assert 'src="/console/static/health.js' in html
    live = client.get("/console/health/live")
    assert live.status_code == 200
    assert live.headers[routes.FRAGMENT_HEADER] == "health"
    assert "<html" not in live.text and 'data-instance="console-host:1"' in live.text


def test_other_roles_get_403_and_signed_out_visitors_sign_in(
    client: TestClient, settings: Settings
) -> None:
    assert sign_in(client, STORE_EMAIL, STORE_PASSWORD).status_code == 303
    assert "Saúde" not in client.get("/console/skus").text
    for path in ("/console/health", "/console/health/live"):
        refused = client.get(path)
        assert refused.status_code == 403
        assert routes.FRAGMENT_HEADER not in refused.headers
    with TestClient(create_app(settings)) as anonymous:
        response = anonymous.get("/console/health/live", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in")


@pytest.mark.browser
def test_the_page_draws_depths_shows_the_viewers_times_and_refreshes(
    browser: Any, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "REFRESH_MS", 300)
    now = utcnow().replace(microsecond=0)
    report(live_server.db, 101, "relay", now)
    depths(live_server.db, now)
    viewer = ZoneInfo("America/Manaus")  # not the console's zone (São Paulo): the browser's
    with open_page(browser, live_server.url, timezone_id="America/Manaus") as page:
        browser_sign_in(page)
        page.wait_for_url(re.compile(r"/console/skus$"))
        page.goto("/console/health")
        page.wait_for_selector("#queue-depths[data-drawn=true]")
        series = page.evaluate(
            "window.SincroCharts.charts[0].data.datasets.map(d => [d.label, d.data.at(-1)])"
        )
        assert ["sync", 2400] in series
        labels = page.evaluate("window.SincroCharts.charts[0].data.labels")
        assert labels[-1] == now.astimezone(viewer).strftime("%H:%M")
        seen = page.locator('tr[data-instance="console-host:101"] time').first.inner_text()
        assert seen == now.astimezone(viewer).strftime("%d/%m/%Y %H:%M:%S")
        report(live_server.db, 102, "watcher", utcnow())  # shows up without a reload
        page.wait_for_selector('tr[data-instance="console-host:102"]')
        page.wait_for_selector("#queue-depths[data-drawn=true]")
        assert page.evaluate("window.SincroCharts.charts.length") == 1  # the old one destroyed
        assert "Atualizado às" in page.locator("#health-refresh").inner_text()
        page.screenshot(path="/tmp/console-health.png", full_page=True)


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
