"""The console in a real browser: Debian's Chromium driven by Playwright against a real
uvicorn server (in a background thread) over a migrated and seeded SQLite file (the shared
fixtures are in tests/browser.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sincro.inventory import service as inventory
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from tests.browser import LiveServer, open_page, sign_in
from tests.console.support import ADMIN_NAV, USER_EMAIL, USER_NAME, USER_PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/console-sku.png")


def test_sign_in(page: Any) -> None:
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/sign-in\?next="))
    sign_in(page, password="nao-e-essa-senha")
    assert page.locator(".alert.error").inner_text() == "E-mail ou senha inválidos"
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button:has-text('Entrar')")
    page.wait_for_url(re.compile(r"/console/skus$"))
    assert page.locator(".user-name").inner_text() == USER_NAME
    nav = page.locator("nav.nav a").all_inner_texts()
    assert nav == ADMIN_NAV


def test_search_a_sku_and_open_it(signed_in: Any) -> None:
    page = signed_in
    page.fill("input[name=q]", "galaxy")
    page.click("button:has-text('Buscar')")
    results = page.locator("#sku-results tbody tr")
    assert results.count() == 1
    page.click("#sku-results a:has-text('Smartphone Galaxy A15 128GB')")
    page.wait_for_url(re.compile(r"/console/skus/CEL-A15$"))
    assert page.locator("h1").inner_text() == "Smartphone Galaxy A15 128GB"
    assert page.locator("#online-available").inner_text() == "1.258"


def test_the_sku_page_draws_availability_by_uf(signed_in: Any) -> None:
    page = signed_in
    page.goto("/console/skus/CEL-A15")
    page.wait_for_selector("#available-by-uf[data-drawn=true]")
    labels = page.evaluate("window.SincroCharts.charts[0].data.labels")
    data = page.evaluate("window.SincroCharts.charts[0].data.datasets[0].data")
    assert "SP" in labels and "RJ" in labels
    assert sum(data) >= 1258  # every active location, not only those that ship online
    box = page.locator("#available-by-uf").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100


def test_nearest_stores_by_distance_after_choosing_a_city(signed_in: Any) -> None:
    page = signed_in
    page.goto("/console/skus/CEL-A15")
    page.select_option("#city", "SP|Campinas")
    page.fill("#radius", "100")
    page.click("#near-form button[type=submit]")
    page.wait_for_selector("#near-table")
    rows = page.locator("#near-table tbody tr")
    codes = [rows.nth(i).locator("a").inner_text() for i in range(rows.count())]
    assert codes[0] == "LJ-CPS-CENTRO"
    assert set(codes) == {"LJ-CPS-CENTRO", "CD-CAJAMAR", "LJ-SP-PAULISTA", "LJ-SP-ITAQUERA"}
    kms = [
        float(k)
        for k in page.locator("#near-table td[data-km]").evaluate_all(
            "cells => cells.map(c => c.dataset.km)"
        )
    ]
    assert kms == sorted(kms)
    assert all(t.endswith(" km") for t in page.locator("#near-table td[data-km]").all_inner_texts())
    assert page.locator("#stock-map .map-focus").count() == 1
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_map_has_one_dot_per_active_location(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    page.goto("/console/skus/CEL-A15")
    dots = page.locator("#stock-map .dot")
    assert dots.count() == live_server.world.active_locations
    codes = dots.evaluate_all("ds => ds.map(d => d.dataset.code)")
    assert "LJ-CWB-FECHADA" not in codes
    assert page.locator("#stock-map .dot.ok").count() == 4  # 1.234, 12, 7 and 40 units
    assert page.locator("#stock-map .dot.low").count() == 2  # 3 and 2 units
    assert page.locator("#stock-map .dot.none").count() == 2


def test_open_a_location_page(signed_in: Any) -> None:
    page = signed_in
    page.goto("/console/skus/CEL-A15?city=SP%7CS%C3%A3o+Paulo&radius=40")
    page.click("#near-table a:has-text('LJ-SP-PAULISTA')")
    page.wait_for_url(re.compile(r"/console/locations/LJ-SP-PAULISTA$"))
    assert "Loja Av. Paulista" in page.locator("h1").inner_text()
    assert "Sim" in page.locator("#location-details").inner_text()
    stock = page.locator("#location-stock tbody tr")
    assert stock.count() == 2
    assert stock.first.locator("td").first.inner_text() == "CEL-A15"
    page.click("nav.nav a:has-text('Lojas e CDs')")
    page.select_option("select[name=uf]", "RJ")
    page.wait_for_url(re.compile(r"uf=RJ"))
    assert page.locator("#locations-table tbody tr").count() == 1


def test_live_feed_shows_a_new_movement(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    page.click("nav.nav a:has-text('Feed ao vivo')")
    page.wait_for_selector("#feed-status[data-state=open]")
    assert page.locator("#feed-status").inner_text() == "Conectado"
    with live_server.db.write() as session:
        inventory.apply_movements(
            session,
            "browser-test",
            [
                MovementIn(
                    sku="FONE-BT", location="LJ-RJ-COPA", quantity=1500, reason=Reason.receipt
                )
            ],
        )
    row = page.locator("#feed-rows tr[data-seq]").first
    row.wait_for(timeout=5000)
    cells = row.locator("td").all_inner_texts()
    assert cells[1:] == ["FONE-BT", "LJ-RJ-COPA", "1.500", "1.500", "0", "recebimento"]
    assert re.fullmatch(r"\d\d:\d\d:\d\d", cells[0])
    assert page.locator("#feed-count").inner_text() == "1"
    with live_server.db.write() as session:  # Manaus is UTC-4: its rows in its own zone
        inventory.apply_movements(
            session,
            "browser-test",
            [
                MovementIn(
                    sku="FONE-BT", location="LJ-MAO-CENTRO", quantity=2, reason=Reason.receipt
                )
            ],
        )
    page.locator("#feed-rows tr[data-seq]").nth(1).wait_for(timeout=5000)
    first, second = (page.locator("#feed-rows tr[data-seq] td").nth(i) for i in (0, 7))
    assert first.get_attribute("title", timeout=1000).endswith("(America/Manaus)")
    assert second.get_attribute("title", timeout=1000).endswith("(America/Sao_Paulo)")


def test_api_docs_render_offline(page: Any) -> None:
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    assert page.locator(".opblock").count() > 10
    assert "Sincro" in page.locator(".title").first.inner_text()


PHONE = {"width": 390, "height": 844}


def test_the_shell_works_on_a_phone(browser: Any, live_server: LiveServer) -> None:
    """At 390×844 the menu folds behind a "Menu" button (no script: CSP), every section is
    reachable from it, and no page scrolls sideways."""
    with open_page(browser, live_server.url, viewport=PHONE) as page:
        sign_in(page)
        page.wait_for_url(re.compile(r"/console/skus$"))
        nav = page.locator("nav.nav")
        assert not nav.is_visible()
        labels = []
        for i in range(5):
            page.click("label.nav-toggle-label")
            assert nav.is_visible()
            link = nav.locator("a").nth(i)
            labels.append(link.inner_text())
            link.click()
            page.wait_for_load_state()
            assert page.locator("nav.nav a.active").count() == 1
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{page.url} scrolls sideways by {wide}px"
        assert labels == ADMIN_NAV[:5]
        assert page.locator(".user button:has-text('Sair')").is_visible()
        page.click("label.nav-toggle-label")
        page.screenshot(path="/tmp/console-phone.png")


def test_the_forecast_page_draws_history_forecast_and_band(
    signed_in: Any, live_server: LiveServer
) -> None:
    import datetime as dt

    from sincro.forecasting import runs
    from sincro.forecasting.schemas import RunScope
    from sincro.inventory import history

    today = dt.date.today()
    with live_server.db.write() as session:
        location = session.execute(
            text("SELECT id FROM locations WHERE code = 'LJ-SP-PAULISTA'")
        ).scalar_one()
        product = session.execute(
            text("SELECT id FROM products WHERE sku = 'CHIP-5G'")
        ).scalar_one()
        history.load_history(
            session,
            [
                {
                    "product_id": product,
                    "location_id": location,
                    "day": today - dt.timedelta(days=d),
                    "units": 5 + (d % 7 == 0) * 6,
                    "online_units": 0,
                    "stockout": d == 10,
                }
                for d in range(1, 91)
            ],
        )
        scope = RunScope(level="uf", skus=["CHIP-5G"], horizon=14, history_days=90)
        run_id = runs.start(session, scope, today=today).id
    runs.run_chunk(live_server.db, run_id, 0, worker="browser-test")
    with live_server.db.write() as session:
        runs.promote(session, run_id, "test")
    page = signed_in
    page.goto("/console/forecasts/series?sku=CHIP-5G&level=uf&key=SP")
    page.wait_for_selector("#forecast-chart[data-drawn=true]")
    names = page.evaluate("window.SincroCharts.charts[0].data.datasets.map(d => d.label)")
    assert names[0] == "Vendido" and "Previsão (média)" in names
    band = page.evaluate("window.SincroCharts.charts[0].data.datasets[3].fill")
    assert band == "-1"
    censored = page.evaluate(
        "window.SincroCharts.charts[0].data.datasets[1].data.filter(v => v !== null).length"
    )
    assert censored == 1
