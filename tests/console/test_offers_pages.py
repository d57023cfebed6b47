"""The "Ofertas" console section (admins) over HTTP on both databases: prices, plans and
promotions listed and edited with pt-BR forms, refusals naming the field, other roles kept
out; the product page shows the replenishment attributes. One test in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from sincro import audit
from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.catalog import service as catalog
from sincro.catalog.models import Product
from sincro.config import Settings
from sincro.db import Database
from tests.browser import LiveServer
from tests.console.support import csrf_of, seed_world, sign_in

STORE_EMAIL, STORE_PASSWORD = "loja@sincro.example", "senha-da-loja-123"


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as session:
        seed_world(session)
        access.create_user(session, STORE_EMAIL, "Equipe da Loja", STORE_PASSWORD, Role.store)
    with TestClient(create_app(settings)) as client:
        assert sign_in(client).status_code == 303
        yield client


def _post(client: TestClient, path: str, tab: str, data: dict[str, str]) -> httpx.Response:
    token = csrf_of(client.get("/console/offers", params={"aba": tab}).text)
    return client.post(path, data={**data, "csrf": token}, follow_redirects=False)


def test_plans_prices_and_promotions(client: TestClient, db: Database) -> None:
    page = client.get("/console/offers", params={"aba": "planos"})
    assert page.status_code == 200 and "Nenhum plano cadastrado" in page.text
    saved = _post(client, "/console/offers/plans", "planos",
                  {"code": "CTRL-25", "name": "Controle 25 GB", "kind": "controle",
                   "monthly_price": "59,90", "data_gb": "25", "active": "on"})  # fmt: skip
    assert saved.status_code == 303, saved.text
    listed = client.get(saved.headers["location"])
    assert "Alterações salvas" in listed.text and "Controle 25 GB" in listed.text
    assert "R$ 59,90" in listed.text and "25 GB" in listed.text
    bad = {"code": "X", "name": "Plano", "kind": "controle", "monthly_price": "abc"}
    refused = _post(client, "/console/offers/plans", "planos", bad)
    assert refused.status_code == 422 and "Mensalidade: número inválido" in refused.text

    price = _post(client, "/console/offers/prices", "precos",
                  {"sku": "cel-a15", "valid_from": "2026-01-01", "list_price": "1.299,90",
                   "sale_price": "1.099,00"})  # fmt: skip
    assert price.status_code == 303, price.text
    prices = client.get("/console/offers", params={"aba": "precos"}).text
    assert "R$ 1.299,90" in prices and "R$ 1.099,00" in prices and "01/01/2026" in prices
    above = _post(client, "/console/offers/prices", "precos",
                  {"sku": "CEL-A15", "valid_from": "2026-02-01", "list_price": "10,00",
                   "sale_price": "12,00"})  # fmt: skip
    assert above.status_code == 422
    assert "Preço promocional: o preço promocional é maior que o de tabela" in above.text
    missing = {"sku": "NAO-EXISTE", "valid_from": "2026-02-01", "list_price": "10"}
    unknown = _post(client, "/console/offers/prices", "precos", missing)
    assert unknown.status_code == 422 and "SKU: não encontrado" in unknown.text

    promo = _post(client, "/console/offers/promotions", "promocoes",
                  {"code": "BF-CTRL", "name": "Black Friday", "plan": "CTRL-25",
                   "discount_percent": "20", "valid_from": "2026-11-20", "valid_to": "2026-11-30",
                   "channel": "online", "active": "on"})  # fmt: skip
    assert promo.status_code == 303, promo.text
    both = _post(client, "/console/offers/promotions", "promocoes",
                 {"code": "P2", "name": "Dupla", "sku": "CEL-A15", "plan": "CTRL-25",
                  "discount_percent": "5", "valid_from": "2026-11-20"})  # fmt: skip
    assert both.status_code == 422 and "Plano: informe um SKU ou um plano" in both.text
    with db.read() as session:
        assert catalog.get_promotion(session, "BF-CTRL").discount_percent == 20
        assert catalog.list_prices(session, sku="CEL-A15", on=None, offset=0, limit=5)[1] == 1
    removed = _post(client, "/console/offers/promotions/remove", "promocoes", {"code": "BF-CTRL"})
    assert removed.status_code == 303
    with db.read() as session:
        assert catalog.list_promotions(session)[1] == 0
        entries, _ = audit.read(
            session, audit.parse_filter("user", "promotion.", "", None, None), 0, 5
        )
    assert [e.action for e in entries] == ["promotion.delete", "promotion.set"]
    assert entries[0].actor_label == "Ana Gerente" and entries[0].entity_id == "BF-CTRL"
    forged = client.post("/console/offers/plans", data={"csrf": "x", "code": "Y"})
    assert forged.status_code == 400 and "Sua sessão expirou" in forged.text


def test_store_staff_cannot_see_or_edit_offers(client: TestClient) -> None:
    token = csrf_of(client.get("/console/offers").text)
    client.post("/console/sign-out", data={"csrf": token})
    assert sign_in(client, STORE_EMAIL, STORE_PASSWORD).status_code == 303
    assert client.get("/console/offers").status_code == 403
    page = client.get("/console/skus")
    assert "Ofertas" not in page.text
    token = csrf_of(page.text)
    denied = client.post(
        "/console/offers/plans",
        data={"csrf": token, "code": "X", "name": "X", "kind": "pre", "monthly_price": "1"},
    )
    assert denied.status_code == 403


def test_product_page_shows_replenishment(client: TestClient, db: Database) -> None:
    assert 'id="replenishment"' not in client.get("/console/skus/CEL-A15").text
    with db.write() as session:
        session.execute(
            update(Product)
            .where(Product.sku == "CEL-A15")
            .values(lead_time_days=12, pack_size=10, supplier_code="F00042")
        )
    page = client.get("/console/skus/CEL-A15").text
    assert "prazo de entrega 12 dias" in page and "embalagem 10 un." in page and "F00042" in page


def test_offers_in_a_browser(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    page.click("nav.nav a:has-text('Ofertas')")
    page.wait_for_url(re.compile(r"/console/offers$"))
    page.click("a:has-text('Planos')")
    form = page.locator("#plan-form")
    form.locator("input[name=code]").fill("FIBRA-600")
    form.locator("input[name=name]").fill("Fibra 600 Mega")
    form.locator("select[name=kind]").select_option("fibra")
    form.locator("input[name=monthly_price]").fill("109,99")
    form.locator("button:has-text('Salvar plano')").click()
    page.wait_for_url(re.compile(r"aviso=ok"))
    row = page.locator("#plans-table tr[data-plan='FIBRA-600']")
    assert "R$ 109,99" in row.inner_text() and "Fibra" in row.inner_text()
    page.click("a:has-text('Preços')")
    form = page.locator("#price-form")
    form.locator("input[name=sku]").fill("CHIP-5G")
    form.locator("input[name=valid_from]").fill("2026-12-01")
    form.locator("input[name=list_price]").fill("15,00")
    form.locator("input[name=sale_price]").fill("20,00")
    form.locator("button:has-text('Salvar preço')").click()
    assert (
        "o preço promocional é maior que o de tabela" in page.locator(".alert.error").inner_text()
    )
    page.locator("#price-form input[name=sale_price]").fill("9,90")
    page.locator("#price-form button:has-text('Salvar preço')").click()
    page.wait_for_url(re.compile(r"aviso=ok"))
    assert "R$ 9,90" in page.locator("#prices-table tr[data-sku='CHIP-5G']").inner_text()
    page.screenshot(path=str(Path("/tmp") / "console-offers.png"), full_page=True)


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
