"""The "Clientes" pages in a real browser (Debian's Chromium through Playwright) against a
real uvicorn server over a migrated SQLite file: search → detail, masking for an agent, and
an import followed to its end (the status page refreshes itself)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.customers import jobs, service
from sincro.customers.models import CustomerImport
from sincro.customers.schemas import CustomerRegistration
from sincro.db import Database
from sincro.text_pt import format_cpf
from tests.browser import live, open_page, sign_in as browser_sign_in
from tests.customers.support import PASSWORD, add_receivable, cpf, make_user
from tests.services import migrated_sqlite

pytestmark = pytest.mark.browser

ANA = cpf(123456)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("customers-browser")
    url = migrated_sqlite(sqlite_template, folder)
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
    settings = Settings(database_url=url, var_dir=folder, log_json=False)
    stop = threading.Event()
    worker = threading.Thread(target=run_queued_imports, args=(db, settings, stop), daemon=True)
    worker.start()
    try:
        with live(create_app(settings)) as base:
            yield base
    finally:
        stop.set()
        worker.join(30)
        db.dispose()


def run_queued_imports(db: Database, settings: Settings, stop: threading.Event) -> None:
    """What an ``imports`` worker does, in a thread (the real worker process and broker are
    tested in test_import_jobs.py): run every queued import."""
    while not stop.wait(0.2):
        with db.read() as session:
            queued = session.scalars(
                select(CustomerImport.id).where(CustomerImport.status == "queued")
            ).all()
        for import_id in queued:
            jobs.run_import(db, settings, import_id)


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    with open_page(browser, server, timeout_ms=8000) as tab:
        yield tab


def sign_in(page: Any, email: str) -> None:
    browser_sign_in(page, email, PASSWORD)
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
