"""Messaging in a real browser (Chromium via Playwright, a real uvicorn server): write a
template and watch its live preview, save it, create a campaign, start it and see the progress
reach every recipient at the real SMTP sink."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.messaging import orchestrator, service
from sincro.migrate import upgrade
from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD
from tests.console.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.messaging.support import add_customers, messaging_settings, sender_for
from tests.services import absent
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser
RECIPIENTS = 8


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SmtpSink]]:
    import uvicorn

    url = f"sqlite:///{tmp_path / 'sincro.sqlite'}"
    upgrade(url)
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
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=1)
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", sink
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            db.dispose()


@pytest.fixture
def page(live: tuple[str, SmtpSink]) -> Iterator[Any]:
    if not CHROMIUM.exists():
        absent("Chromium", "run scripts/system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(base_url=live[0], locale="pt-BR")
        context.set_default_timeout(10_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        try:
            yield page
        finally:
            browser.close()
        assert not problems, problems


def test_template_preview_campaign_progress(page: Any, live: tuple[str, SmtpSink]) -> None:
    from playwright.sync_api import expect

    _, sink = live
    page.goto("/console/sign-in")
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button:has-text('Entrar')")
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
