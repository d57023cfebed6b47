"""Bot → person, end to end in two browser contexts: a customer on a shop's page (another
origin, the one script tag) asks for a person; an agent signed in to "Atendimento" sees the
conversation arrive live, takes it and answers; the customer's widget shows the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sincro.access import service as access
from sincro.app import create_app
from sincro.assistant.classifier import classifier
from sincro.assistant.widget import sitekeys
from sincro.config import Settings
from sincro.db import Database
from tests.assistant.people import open_hours
from tests.assistant.test_widget_browser import SHOP_PAGE, Shop, shop
from tests.browser import live, open_page, sign_in
from tests.services import migrated_sqlite

pytestmark = pytest.mark.browser
__all__ = ["shop"]  # the shop's web server fixture, shared with the widget's own test
AGENT, PASSWORD = ("ana@sincro.example", "Ana Atendente"), "senha-forte-123"
ANSWER = "Olá! Sou a Ana, vou resolver isso com você."


@pytest.fixture(scope="module")
def sincro(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, shop: str
) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("handoff-browser")
    url = migrated_sqlite(sqlite_template, folder)
    db = Database(url)
    with db.write() as s:
        key = sitekeys.create(s, "loja", [shop], allow_http=True).public_key
        access.create_user(s, AGENT[0], AGENT[1], PASSWORD, "agent")
    sitekeys.forget()
    # people answer all week here: the handoff must not depend on the day the test runs
    settings = open_hours(Settings(database_url=url, var_dir=folder, log_json=False))
    try:
        with live(create_app(settings)) as base:
            yield base, key
    finally:
        db.dispose()


def test_a_customer_handed_over_in_the_widget_gets_the_agents_answer(
    browser: Any, sincro: tuple[str, str], shop: str
) -> None:
    base, key = sincro
    Shop.page = SHOP_PAGE.format(sincro=base, key=key).encode()
    classifier()  # the server trains it at start in this process: wait for that, not a page
    with (
        open_page(browser, shop, timeout_ms=20_000) as customer,
        open_page(browser, base, timeout_ms=20_000) as agent,
    ):
        sign_in(agent, AGENT[0], PASSWORD)
        agent.wait_for_url(lambda address: "sign-in" not in address)
        agent.goto("/console/atendimento")
        agent.wait_for_selector("#queue-status[data-state=open]")

        customer.goto("/")
        customer.get_by_role("button", name="Atendimento", exact=True).click()
        box = customer.get_by_label("Sua mensagem")
        box.fill("quero falar com um atendente humano por favor")
        box.press("Enter")
        customer.wait_for_function(
            "() => [...document.querySelectorAll('.sincro-aw-bot .sincro-aw-text')]"
            ".some(p => p.textContent.includes('equipe'))"
        )
        conversation_id = customer.evaluate(
            f"JSON.parse(sessionStorage.getItem('sincro-assistant:{key}')).id"
        )

        row = agent.locator(f"#queue-rows tr[data-conversation='{conversation_id}']")
        row.wait_for()  # arrived live, without reloading the inbox
        row.locator("button:has-text('Atender')").click()
        agent.wait_for_selector("#conversation-status[data-state=open]")
        transcript = agent.locator("#transcript").inner_text()
        assert "quero falar com um atendente humano" in transcript
        agent.fill("#answer-text", ANSWER)
        agent.click("#send-answer")

        answer = customer.locator(".sincro-aw-agent .sincro-aw-text", has_text=ANSWER)
        answer.wait_for()  # the widget's long poll brought it
        assert customer.locator(".sincro-aw-agent .sincro-aw-who").first.inner_text() == (
            "Atendente"
        )
