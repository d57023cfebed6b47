"""Messaging in a real browser (Chromium via Playwright, a real uvicorn server): write a
template and watch its live preview, save it, create a campaign, start it and see the progress
reach every recipient at the real SMTP sink."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.messaging import orchestrator, service
from tests.browser import live as serve, open_page, sign_in
from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD
from tests.messaging.support import add_customers, messaging_settings, sender_for
from tests.services import migrated_sqlite
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser
RECIPIENTS = 8


@pytest.fixture
def live(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, SmtpSink]]:
    url = migrated_sqlite(sqlite_template, tmp_path)
    db = Database(url)
    with db.write() as s:
        create_user(s, USER_EMAIL, USER_NAME, USER_PASSWORD)
    add_customers(db, RECIPIENTS)
    with running_sink() as sink:
        settings = messaging_settings(
            Settings(database_url=url, var_dir=tmp_path, log_json=False),
            sink.port,
            messaging_rate_per_second=4.0,  # slow enough to watch the progress move
        )

        def orchestrate(campaign_id: int) -> None:  # a worker, in a thread
            def work() -> None:
                kept: list[tuple[int, list[int]]] = []
                monkeypatch.setitem(
                    service.dispatcher, "batch", lambda c, ids: kept.append((c, ids))
                )
                orchestrator.orchestrate(db, settings, campaign_id)
                with sender_for(db, settings) as sender:
                    for c, ids in kept:
                        sender.run_batch(c, ids)

            threading.Thread(target=work, daemon=True).start()

        monkeypatch.setitem(service.dispatcher, "orchestrate", orchestrate)
        try:
            with serve(create_app(settings)) as base:
                yield base, sink
        finally:
            db.dispose()


@pytest.fixture
def page(browser: Any, live: tuple[str, SmtpSink]) -> Iterator[Any]:
    with open_page(browser, live[0], timeout_ms=10_000) as tab:
        yield tab


def test_template_preview_campaign_progress(page: Any, live: tuple[str, SmtpSink]) -> None:
    from playwright.sync_api import expect

    _, sink = live
    sign_in(page)
    page.wait_for_url(re.compile(r"/console/skus$"))
    page.click("nav.nav a:has-text('Mensagens')")
    page.click("a:has-text('Novo modelo')")
    page.fill("input[name=name]", "Oferta de Natal")
    page.fill("input[name=key]", "oferta-natal")
    page.fill("input[name=subject]", "{{ customer.first_name }}, Natal em {{ customer.city }}")
    page.fill("textarea[name=html]", "<p>Olá <b>{{ customer.name }}</b></p>")
    page.fill("textarea[name=text]", "Olá {{ customer.name }}")
    expect(page.locator("#preview-subject")).to_have_text("Maria, Natal em Belo Horizonte")
    frame = page.frame_locator("#preview-html")
    assert frame.locator("b").inner_text() == "Maria da Silva Souza"
    page.fill("textarea[name=text]", "Olá {{ cliente }}")
    page.wait_for_selector("#preview-error:not([hidden])")
    assert "cliente" in page.locator("#preview-error").inner_text()
    page.fill("textarea[name=text]", "Olá {{ customer.name }}")
    page.click("button:has-text('Salvar')")
    page.wait_for_selector("text=Modelo salvo (versão 1)")
    page.click("a:has-text('Mensagens')")
    page.fill("#campaign-form input[name=name]", "Natal 2026")
    page.click("button:has-text('Criar campanha')")
    page.wait_for_url(re.compile(r"/console/mensagens/campanhas/\d+$"))
    page.click("button[data-action=start]")
    page.wait_for_selector("#campaign-state:has-text('enviando')")
    expect(page.locator("[data-count=sent]")).to_have_text(str(RECIPIENTS), timeout=30_000)
    assert len(sink.messages) == RECIPIENTS
    page.wait_for_selector("#campaign-minutes[data-drawn=true]")
    total = page.evaluate(
        "window.SincroCharts.charts[0].data.datasets[0].data.reduce((a, b) => a + b, 0)"
    )
    assert total == RECIPIENTS
