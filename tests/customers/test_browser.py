"""The "Clientes" pages in a real browser (Debian's Chromium through Playwright) against a
real uvicorn server over a migrated SQLite file: search → detail, masking for an agent, and
an import followed to its end (the status page refreshes itself)."""

from __future__ import annotations

import datetime as dt
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
from sincro.customers import service
from sincro.customers.schemas import CustomerRegistration
from sincro.db import Database
from sincro.migrate import upgrade
from sincro.text_pt import format_cpf
from tests.customers.support import PASSWORD, add_receivable, cpf, make_user
from tests.services import absent

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
ANA = cpf(123456)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    folder = tmp_path_factory.mktemp("customers-browser")
    url = f"sqlite:///{folder / 'sincro.sqlite'}"
    upgrade(url)
    db = Database(url)
    with db.write() as session:
        create_user(session, "admin@sincro.example", "Admin", PASSWORD)
        for name, doc in [("Ana Souza", ANA), ("Bruno Souza", cpf(2)), ("Carla Dias", cpf(3))]:
            reg = CustomerRegistration(
                name=name,
                document=doc,
                email=f"{name.split()[0].lower()}@exemplo.com.br",
                state="SP",
                city="Campinas",
            )
            cid = service.register_customer(session, reg, source="api").customer_id
            service.record_consent(
                session,
                cid,
                channel="email",
                purpose="marketing",
                granted=True,
                source="signup-mail",
                evidence=f"<convite-{cid}@sincro>",
            )
    add_receivable(db, "NF-1", ANA, dt.date.today() - dt.timedelta(days=15), "80.00", source="api")
    make_user(db, "agent")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(Settings(database_url=url, var_dir=folder, log_json=False))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        absent("Chromium", "run scripts/system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(
        base_url=server, locale="pt-BR", viewport={"width": 1366, "height": 900}
    )
    context.set_default_timeout(8000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            problems.append(msg.text)

    page.on("console", on_console)
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


def sign_in(page: Any, email: str) -> None:
    page.goto("/console/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Entrar')")
    page.wait_for_url(re.compile(r"/console/\w+"))


def test_search_then_open_a_customer(page: Any) -> None:
    sign_in(page, "admin@sincro.example")
    page.click("nav.nav a:has-text('Clientes')")
    page.wait_for_url(re.compile(r"/console/customers$"))
    page.fill("#q", "souza")
    page.select_option("#uf", "SP")
    page.click("#customer-filters button:has-text('Buscar')")
    rows = page.locator("#customer-results tbody tr")
    assert rows.count() == 2
    page.click("#customer-results a:has-text('Ana Souza')")
    page.wait_for_url(re.compile(r"/console/customers/\d+$"))
    assert page.locator("#customer-name").inner_text() == "Ana Souza"
    assert page.locator("#customer-document").inner_text() == format_cpf(ANA)
    history = page.locator("#consent-history tbody tr").first.inner_text()
    assert "Cadastro por e-mail" in history and "<convite-" in history
    receivable = page.locator("#receivables-table tbody tr").first.inner_text()
    assert "NF-1" in receivable and "vencido" in receivable.lower()
    assert page.locator("#lgpd-export").is_visible()


def test_an_agent_sees_masked_data_and_no_lgpd_actions(page: Any) -> None:
    sign_in(page, "agent@sincro.example")
    page.goto("/console/customers?q=ana")
    assert page.locator("#customer-results tbody tr").count() == 1
    page.click("#customer-results a:has-text('Ana Souza')")
    page.wait_for_url(re.compile(r"/console/customers/\d+$"))
    assert page.locator("#customer-document").inner_text() == "***.123.456-**"
    assert page.locator("#customer-email").inner_text() == "an***@exemplo.com.br"
    assert page.locator("#lgpd").count() == 0


def test_import_a_file_and_follow_it(page: Any, tmp_path: Path) -> None:
    source = tmp_path / "novos.csv"
    source.write_bytes(
        ("\ufeffnome;cpf;uf\r\nDiego Alves;" + cpf(77) + ";SP\r\nRuim;999;SP\r\n").encode()
    )
    sign_in(page, "admin@sincro.example")
    page.goto("/console/customers")
    page.click("#customers-import-link")
    page.set_input_files("#import-file", str(source))
    page.click("#import-submit")
    page.wait_for_url(re.compile(r"/console/customers/imports/\d+$"))
    page.wait_for_selector("#import-status:has-text('Concluída')")
    assert page.locator("#import-created").inner_text() == "1"
    assert page.locator("#rejects-table tbody tr").count() == 1
    with page.expect_download() as download:
        page.click("#rejects-download")
    assert download.value.suggested_filename == "rejeitados-novos.csv"
