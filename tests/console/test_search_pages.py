"""The "Busca" console section: over HTTP (TestClient, both databases) and in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access.service import create_user
from sincro.app import create_app
from sincro.catalog import search
from sincro.config import Settings
from sincro.db import Database
from tests.browser import LiveServer
from tests.catalog.support import make_document, seed_catalog
from tests.console.support import USER_EMAIL, USER_PASSWORD, sign_in

SCREENSHOTS = Path("/tmp")


@pytest.fixture
def world(db: Database) -> Iterator[dict[str, int]]:
    search.clear_index(db)
    with db.write() as session:
        create_user(session, USER_EMAIL, "Ana Atendente", USER_PASSWORD)
        ids = seed_catalog(session)
        xss = make_document(
            session,
            external_id="XSS",
            title="Bateria <b>extra</b>",
            body="Troca de <script>bateria</script> em 5 dias.",
        )
        search.index_documents(session, [xss.id])
    yield ids | {"xss": xss.id}
    search.clear_index(db)


@pytest.fixture
def client(world: dict[str, int], settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        assert sign_in(client).status_code == 303
        yield client


def test_search_page(client: TestClient, world: dict[str, int]) -> None:
    empty = client.get("/console/search")
    assert empty.status_code == 200 and "Digite o que o cliente procura" in empty.text
    assert 'aria-current="page">Busca</a>' in empty.text
    html = client.get("/console/search", params={"q": "configuracao do roteador"}).text
    assert f'data-id="{world["router_manual"]}"' in html
    assert "<mark>Configuração</mark> inicial" in html
    assert "Manual do <mark>roteador</mark> Wi-Fi 6 AX3000" in html
    assert "vigente desde 01/03/2026" in html
    assert f'href="/console/search/documents/{world["router_manual"]}?q=' in html


def test_search_page_escapes_and_marks(client: TestClient, world: dict[str, int]) -> None:
    html = client.get("/console/search", params={"q": "bateria"}).text
    assert "<mark>Bateria</mark> &lt;b&gt;extra&lt;/b&gt;" in html
    assert "&lt;script&gt;<mark>bateria</mark>&lt;/script&gt;" in html
    assert "<script>bateria" not in html


def test_typos_filters_and_old_versions(client: TestClient, world: dict[str, int]) -> None:
    html = client.get("/console/search", params={"q": "samsng"}).text
    assert "Também buscamos por: <strong>samsung</strong>" in html
    assert 'href="/console/skus/CEL-A15"' in html
    products = client.get("/console/search", params={"q": "carregador", "kind": "product"}).text
    assert 'data-type="document"' not in products and 'data-type="product"' in products
    active = 'class="chip active" aria-current="true"'
    assert f'{active} href="/console/search?q=carregador&amp;kind=product"' in products
    chips = client.get("/console/search", params={"q": "ativar chip"}).text
    assert chips.index(f'data-id="{world["sim_new"]}"') < chips.index(
        f'data-id="{world["sim_old"]}"'
    )
    assert "versão antiga" in chips
    nothing = client.get("/console/search", params={"q": "hoverboard"}).text
    assert "Nenhum resultado para “hoverboard”" in nothing


def test_too_long_query(client: TestClient, world: dict[str, int]) -> None:
    response = client.get("/console/search", params={"q": "x" * 201})
    assert response.status_code == 422
    assert "no máximo 200 caracteres" in response.text


def test_document_page(client: TestClient, world: dict[str, int]) -> None:
    doc_id = world["sim_old"]
    html = client.get(f"/console/search/documents/{doc_id}", params={"q": "ativacao"}).text
    assert "<mark>Ativação</mark> em até 24 horas" in html
    assert "versão antiga" in html
    assert f'href="/console/search/documents/{world["sim_new"]}?q=ativacao">versão 2</a>' in html
    missing = client.get("/console/search/documents/999999")
    assert missing.status_code == 404 and "Documento não encontrado" in missing.text


@pytest.mark.browser
def test_search_in_a_browser(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    with live_server.db.write() as session:
        ids = seed_catalog(session, prefix="B-")
    page.click("nav.nav a:has-text('Busca')")
    page.wait_for_url(re.compile(r"/console/search$"))
    page.fill("input[name=q]", "carregdor turbo")
    page.click("button:has-text('Buscar')")
    page.wait_for_selector("#search-results")
    first = page.locator("#search-results li").first
    assert first.locator("mark").first.inner_text().lower() == "carregador"
    assert "Também buscamos por: carregador" in page.locator(".corrections").first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "console-search.png"), full_page=True)
    page.click("a.chip:has-text('Fichas técnicas')")
    page.wait_for_url(re.compile(r"kind=datasheet"))
    types = page.locator("#search-results li").evaluate_all("els => els.map(e => e.dataset.type)")
    assert set(types) == {"document"}
    page.click(f"#search-results li[data-id='{ids['charger_sheet']}'] a")
    page.wait_for_url(re.compile(rf"/console/search/documents/{ids['charger_sheet']}\?q="))
    assert page.locator("#document-body mark").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "console-search-document.png"), full_page=True)
