"""Browser tests' shared parts (a pytest plugin, loaded by tests/conftest.py): Debian's
Chromium driven by Playwright against a real uvicorn server in a background thread.

- ``browser``: one Chromium per test module. Not per session: while Playwright's sync API is
  alive it keeps an event loop marked running on the main thread, and ``asyncio.run`` in any
  later test would fail.
- ``open_page``: a context and page on a base URL that collects script errors and CSP
  violations and fails the test on them (HTTP statuses are tested apart).
- ``live``: serve an app; ``migrated_sqlite``: a copy of the run's migrated template.
- ``live_server``, ``page``, ``signed_in``: the console's small operator (tests/console/support)
  served per module, a page on it, and that page signed in as its admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sincro.app import create_app
from sincro.catalog.service import forget_directory
from sincro.config import Settings
from sincro.db import Database
from tests.console.support import USER_EMAIL, USER_PASSWORD, World, seed_world
from tests.services import absent, migrated_sqlite, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 5000


@contextmanager
def live(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def open_page(
    browser: Any, base_url: str, timeout_ms: int = TIMEOUT_MS, **options: Any
) -> Iterator[Any]:
    """A page in a new pt-BR context (``options`` go to ``new_context``: viewport, time zone…);
    fails when the page raised a script error or logged one (a CSP violation is one)."""
    options = {"locale": "pt-BR", "viewport": {"width": 1366, "height": 900}, **options}
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(timeout_ms)
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


def sign_in(page: Any, email: str = USER_EMAIL, password: str = USER_PASSWORD) -> None:
    """Fill and send the sign-in form (the caller waits for where it should land)."""
    page.goto("/console/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Entrar')")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        absent("Chromium", "run scripts/system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class LiveServer:
    url: str
    db: Database
    world: World


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveServer]:
    """The console's small operator on its own SQLite file, served for the module (its tests
    may add data; other modules get their own)."""
    folder = tmp_path_factory.mktemp("console-browser")
    database_url = migrated_sqlite(sqlite_template, folder)
    db = Database(database_url)
    with db.write() as session:
        world = seed_world(session)
    forget_directory()  # the directory cache is per process: drop other tests' locations
    settings = Settings(database_url=database_url, var_dir=folder, log_json=False)
    try:
        with live(create_app(settings)) as url:
            yield LiveServer(url, db, world)
    finally:
        db.dispose()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    with open_page(browser, live_server.url) as tab:
        yield tab


@pytest.fixture
def signed_in(page: Any) -> Any:
    sign_in(page)
    page.wait_for_url(re.compile(r"/console/skus$"))
    return page
