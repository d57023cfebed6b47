"""Cobrança and Avise-me in a real browser (Chromium via Playwright, the console tests'
live server): the notices chart is drawn, the steps are listed, no script or CSP error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sincro.billing import service
from sincro.customers import service as customers
from sincro.db import utcnow
from sincro.text_pt import local_time
from tests.billing.test_dunning import Recorder
from tests.browser import LiveServer

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/console-billing.png"


def test_cobranca_draws_notices_per_day_and_lists_the_steps(
    signed_in: Any,
    live_server: LiveServer,
) -> None:
    from sincro.config import Settings

    db = live_server.db
    due = local_time(utcnow(), "America/Sao_Paulo").date() - dt.timedelta(days=1)
    with db.write() as session:
        customers.upsert_customers(
            session, "erp", [("BR1", {"code": "BR1", "name": "Beatriz Rocha", "state": "DF",
                                      "city": "Brasília", "email": "bia@exemplo.com.br"})],
        )  # fmt: skip
        customers.upsert_receivables(
            session, "erp", [("F1", {"code": "F1", "number": "000777", "customer_code": "BR1",
                                     "due_date": due, "amount": "89.90", "balance": "89.90"})],
        )  # fmt: skip
    s = Settings(database_url=str(db.url), billing_send_from_hour=0, billing_send_until_hour=24)
    with db.write() as session:
        run, _ = service.run_dunning(session, s, now=utcnow(), send=Recorder())
    assert run.queued == 1

    tab = signed_in
    tab.goto("/console/billing")
    tab.wait_for_selector("#notices-per-day[data-drawn=true]")
    datasets = tab.evaluate(
        "window.SincroCharts.charts[0].data.datasets.map(d => d.data.reduce((a, b) => a + b, 0))"
    )
    assert sum(datasets) == 1
    row = tab.locator("#receivables-table tbody tr").first
    text = row.text_content() or ""
    assert "000777" in text and "Vencida há 1 dia" in text
    assert "R$ 89,90" in text
    tab.screenshot(path=SCREENSHOT, full_page=True)
    tab.select_option("#status", "paid")
    tab.click("#billing-filters button")
    assert "Nenhuma fatura" in tab.locator("#receivables-table").inner_text()
    tab.goto("/console/wishes")
    assert tab.locator("h1").inner_text() == "Avise-me"
