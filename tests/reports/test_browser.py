"""The report pages in a real browser (Chromium, as in tests/console/test_browser.py): the
charts are drawn by the package's Chart.js under the console's CSP, without errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import LiveServer
from tests.reports.data import seed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reports_seeded(live_server: LiveServer) -> LiveServer:
    with live_server.db.write() as session:
        seed(session)
    return live_server


def test_defaulters_and_billing_charts_draw(reports_seeded: LiveServer, signed_in: Any) -> None:
    tab = signed_in
    tab.goto("/console/reports/defaulters?as_of=2026-03-31")
    tab.wait_for_selector("#aging-chart[data-drawn=true]")
    tab.wait_for_selector("#uf-chart[data-drawn=true]")
    data = tab.evaluate("window.SincroCharts.charts[0].data.datasets[0].data")
    assert data == [160, 270, 300, 400]
    box = tab.locator("#uf-chart").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    # the canvas really has ink on it
    painted = tab.evaluate(
        """() => { const c = document.getElementById('aging-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }"""
    )
    assert painted > 500
    tab.goto("/console/reports/billing?start=2026-01&end=2026-03&as_of=2026-03-31")
    tab.wait_for_selector("#billing-chart[data-drawn=true]")
    labels = tab.evaluate("window.SincroCharts.charts[0].data.labels")
    assert labels == ["01/2026", "02/2026", "03/2026"]
