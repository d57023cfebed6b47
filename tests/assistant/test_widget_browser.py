"""The widget in a real browser: a shop page on another origin with the one script tag opens
the assistant, sends "oi" and reads the bot's reply (CORS preflight and all), with the basic
accessibility a screen-reader or keyboard user needs; a customer waiting for a person sees
their place in the queue move when an agent takes the one ahead."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sincro.app import create_app
from sincro.assistant import agents, conversations, queue
from sincro.assistant.widget import sitekeys
from sincro.config import Settings
from sincro.db import Database
from tests.assistant.people import make_agent, open_hours, queued
from tests.browser import live, open_page
from tests.services import migrated_sqlite

pytestmark = pytest.mark.browser
SHOP_PAGE = (
    '<!doctype html><html lang="pt-BR"><head><title>Loja</title></head><body>'
    '<h1>Loja exemplo</h1><script src="{sincro}/assistant/widget.js" data-site-key="{key}" '
    "async></script></body></html>"
)


UNNAMED_CONTROLS = """() => [
  ...document.querySelectorAll('#sincro-assistant button, #sincro-assistant textarea')
].filter(el => !(el.getAttribute('aria-label') || el.labels?.length || el.textContent.trim()))
 .map(el => el.outerHTML)"""


class Shop(http.server.BaseHTTPRequestHandler):
    """The shop's own web server: another origin (another port) on this machine."""

    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(Shop.page)))
        self.end_headers()
        self.wfile.write(Shop.page)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


Server = tuple[str, str, Database, Settings]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, shop: str
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("widget-browser")
    url = migrated_sqlite(sqlite_template, folder)
    db = Database(url)
    with db.write() as s:
        key = sitekeys.create(s, "loja", [shop], allow_http=True).public_key
    sitekeys.forget()
    # people answer all day; a safety-net poll longer than the test waits for the queue line
    settings = open_hours(
        Settings(database_url=url, var_dir=folder, log_json=False),
        assistant_live_poll_seconds=30.0,
    )
    try:
        with live(create_app(settings)) as base:
            yield base, key, db, settings
    finally:
        db.dispose()


def test_a_shop_page_talks_to_the_assistant(browser: Any, server: Server, shop: str) -> None:
    sincro, key, _, _ = server
    Shop.page = SHOP_PAGE.format(sincro=sincro, key=key).encode()
    with open_page(browser, shop, timeout_ms=15_000, reduced_motion="reduce") as page:
        page.goto("/")
        launcher = page.get_by_role("button", name="Atendimento", exact=True)
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.click()
        dialog = page.get_by_role("dialog", name="Assistente virtual")
        assert dialog.is_visible()
        assert launcher.get_attribute("aria-expanded") == "true"
        box = page.get_by_label("Sua mensagem")
        assert box.evaluate("el => el === document.activeElement")  # focus moved in
        log = page.get_by_role("log", name="Mensagens da conversa")
        assert log.get_attribute("aria-live") == "polite"
        assert page.get_by_role("button", name="Fechar atendimento").is_visible()
        assert page.get_by_role("button", name="Enviar").is_visible()
        assert page.get_by_role("status").count() == 1
        box.fill("oi")
        box.press("Enter")
        replies = page.locator(".sincro-aw-bot .sincro-aw-text")
        page.wait_for_function(
            "() => document.querySelectorAll('.sincro-aw-bot .sincro-aw-text').length >= 2"
        )
        assert replies.nth(1).inner_text().strip()  # the server's reply, after the greeting
        assert page.locator(".sincro-aw-customer .sincro-aw-text").inner_text() == "oi"
        assert page.get_by_role("status").inner_text() == ""
        stored = page.evaluate(f"JSON.parse(sessionStorage.getItem('sincro-assistant:{key}'))")
        assert isinstance(stored["id"], int) and len(stored["token"]) >= 32
        # every control has an accessible name (a basic axe-like rule)
        unnamed = page.evaluate(UNNAMED_CONTROLS)
        assert unnamed == []
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        assert launcher.evaluate("el => el === document.activeElement")  # focus returned


def test_a_waiting_customer_sees_the_queue_move(browser: Any, server: Server, shop: str) -> None:
    sincro, key, db, settings = server
    Shop.page = SHOP_PAGE.format(sincro=sincro, key=key).encode()
    ahead = queued(db, settings)  # queued first: ahead of the widget's customer
    ana = make_agent(db, "Ana Lima")
    with open_page(browser, shop, timeout_ms=15_000, reduced_motion="reduce") as page:
        page.goto("/")
        page.get_by_role("button", name="Atendimento", exact=True).click()
        box = page.get_by_label("Sua mensagem")
        box.fill("oi")
        box.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('.sincro-aw-bot').length >= 2")
        stored = page.evaluate(f"JSON.parse(sessionStorage.getItem('sincro-assistant:{key}'))")
        with db.write() as s:  # the dialogue's handoff, without asking the classifier for one
            conversation = conversations.get(s, stored["id"], for_update=True)
            queue.enqueue(s, conversation, "asked_for_person", settings)
        page.reload()  # the widget restores the conversation and follows it while it waits
        page.get_by_role("button", name="Atendimento", exact=True).click()
        line = page.locator(".sincro-aw-queue")
        line.get_by_text("Você é o 2º da fila").wait_for()
        assert line.get_attribute("role") == "status"
        with db.write() as s:
            agents.take(s, settings, ahead, ana)
        line.get_by_text(re.compile(r"^Você é o 1º da fila · espera estimada de 1 min$")).wait_for(
            timeout=8_000
        )


def test_the_widget_is_served_from_the_package() -> None:
    static = Path(__file__).parents[2] / "src/sincro/assistant/widget/static"
    script = (static / "widget.js").read_text(encoding="utf-8")
    assert not re.search(r"https?://(?!sincro\.example)", script.split("*/", 1)[1])  # no CDN
    assert "prefers-reduced-motion" in (static / "widget.css").read_text(encoding="utf-8")
