"""The console over plain HTTP (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro import text_pt
from sincro.app import create_app
from sincro.catalog import service as catalog
from sincro.catalog.models import Location, Product
from sincro.config import Settings
from sincro.console.inventory import routes as inventory_routes
from sincro.db import Database
from sincro.inventory.models import StockLevel
from tests.console.support import USER_NAME, World, csrf_of, seed_world, sign_in
from tests.factories import receive


@pytest.fixture
def world(db: Database) -> World:
    with db.write() as session:
        return seed_world(session)


@pytest.fixture
def client(world: World, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return client


@pytest.mark.parametrize(
    "path",
    ["/console", "/console/skus", "/console/skus/CEL-A15", "/console/locations", "/console/feed"],
)
def test_signed_out_pages_redirect_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in?next=")
    page = client.get(path)
    assert page.status_code == 200
    assert "Entrar no console" in page.text


def test_wrong_password_shows_message(client: TestClient) -> None:
    response = sign_in(client, password="errada-123456")
    assert response.status_code == 401
    assert "E-mail ou senha inválidos" in response.text
    assert client.get("/console/skus", follow_redirects=False).status_code == 303


def test_sign_in_without_form_token_is_refused(client: TestClient) -> None:
    client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"email": "gerente@sincro.example", "password": "senha-forte-123", "csrf": "ã"},
    )
    assert response.status_code == 400
    assert "sessão expirou" in response.text


def test_sign_in_and_out(client: TestClient) -> None:
    response = sign_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/skus"
    assert "httponly" in response.headers["set-cookie"].lower()
    home = client.get("/console")
    assert home.status_code == 200
    assert USER_NAME in home.text
    for label in ("Estoque (SKUs)", "Lojas e CDs", "Feed ao vivo"):
        assert label in home.text
    out = client.post(
        "/console/sign-out", data={"csrf": csrf_of(home.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert client.get("/console/skus", follow_redirects=False).status_code == 303


def test_sign_in_returns_to_the_page_asked_but_never_off_site(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    form = {"email": "gerente@sincro.example", "password": "senha-forte-123"}
    response = client.post(
        "/console/sign-in",
        data={**form, "csrf": csrf_of(page.text), "next": "/console/locations?uf=SP"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console/locations?uf=SP"
    client.cookies.clear()
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={**form, "csrf": csrf_of(page.text), "next": "https://example.com/console"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console/skus"


def test_api_requests_get_no_console_cookie(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


def test_search_by_name_sku_and_ean(signed_in: TestClient, world: World) -> None:
    for q in ("galaxy", "cel-a15", world.ean):
        page = signed_in.get("/console/skus", params={"q": q})
        assert page.status_code == 200
        assert 'href="/console/skus/CEL-A15"' in page.text, q
        assert "CHIP-5G" not in page.text
    everything = signed_in.get("/console/skus")
    assert "1–3 de 3 produtos" in everything.text


def test_sku_page_shows_brazilian_numbers(signed_in: TestClient, world: World) -> None:
    page = signed_in.get("/console/skus/CEL-A15", params={"city": "SP|São Paulo", "radius": "50"})
    assert page.status_code == 200
    html = page.text
    # 1234 + 12 + 3 + 7 + 2 at locations that ship online (Porto Alegre does not)
    assert re.search(r'id="online-available">1\.258<', html)
    assert 'id="locations-with-stock">6<' in html
    assert "1.234" in html  # the DC in "Todas as lojas"
    kms = re.findall(r'data-km="([0-9.]+)">([0-9.,]+ km)<', html)
    assert len(kms) == 3
    assert all(re.fullmatch(r"\d+,\d km", label) for _, label in kms), kms
    assert [float(k) for k, _ in kms] == sorted(float(k) for k, _ in kms)
    near_table = html[
        html.index('id="near-table"') : html.index("</table>", html.index('id="near-table"'))
    ]
    assert re.findall(r'class="mono">([A-Z-]+)</a>', near_table) == [
        "LJ-SP-PAULISTA",
        "LJ-SP-ITAQUERA",
        "CD-CAJAMAR",
    ]
    assert len(re.findall(r'class="dot ', html)) == world.active_locations


def test_bad_coordinates_show_a_message(signed_in: TestClient) -> None:
    page = signed_in.get("/console/skus/CEL-A15", params={"lat": "abc", "lon": "-46,6"})
    assert page.status_code == 422
    assert "Latitude inválida" in page.text
    page = signed_in.get(
        "/console/skus/CEL-A15", params={"lat": "-23,5", "lon": "-46,6", "radius": "0"}
    )
    assert "Raio inválido" in page.text
    page = signed_in.get("/console/skus/CEL-A15", params={"lat": "-23,56", "lon": "-46,66"})
    assert page.status_code == 200
    assert "LJ-SP-PAULISTA" in page.text


def test_unknown_sku_and_location_give_a_friendly_404(signed_in: TestClient) -> None:
    for path, text in [
        ("/console/skus/NAO-EXISTE", "SKU não encontrado"),
        ("/console/locations/NAO-EXISTE", "Local não encontrado"),
        ("/console/nada-aqui", "Página não encontrada"),
    ]:
        page = signed_in.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")
        assert text in page.text
        assert USER_NAME in page.text
    api = signed_in.get("/v1/nada-aqui")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_locations_list_and_location_page(signed_in: TestClient) -> None:
    page = signed_in.get("/console/locations", params={"uf": "SP", "kind": "store"})
    assert page.status_code == 200
    assert "LJ-SP-PAULISTA" in page.text and "LJ-CPS-CENTRO" in page.text
    assert "CD-CAJAMAR" not in page.text and "LJ-RJ-COPA" not in page.text
    detail = signed_in.get("/console/locations/CD-CAJAMAR")
    assert detail.status_code == 200
    assert "CD Cajamar" in detail.text
    assert 'href="/console/skus/CEL-A15"' in detail.text
    assert ">1.234<" in detail.text


def test_feed_page_and_stream_need_sign_in(client: TestClient) -> None:
    response = client.get("/console/feed/stream", follow_redirects=False)
    assert response.status_code == 401
    sign_in(client)
    page = client.get("/console/feed", params={"sku": "CEL-A15"})
    assert page.status_code == 200
    assert 'data-stream="/console/feed/stream?sku=CEL-A15"' in page.text
    bad = client.get("/console/feed/stream", params={"sku": "não vale"})
    assert bad.status_code == 400


def test_lists_paginate(signed_in: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory_routes, "ALL_LOCATIONS_PAGE_SIZE", 3)
    monkeypatch.setattr(inventory_routes, "LOCATIONS_PAGE_SIZE", 4)
    first = signed_in.get("/console/skus/CEL-A15", params={"city": "RJ|Rio de Janeiro"})
    assert "1–3 de 8 locais" in first.text
    assert 'href="/console/skus/CEL-A15?city=RJ%7CRio+de+Janeiro&amp;page=2#todas"' in first.text
    past_the_end = signed_in.get("/console/skus/CEL-A15", params={"page": "99"})
    assert "7–8 de 8 locais" in past_the_end.text
    assert "Página 3 de 3" in past_the_end.text
    stocked = signed_in.get("/console/skus/CEL-A15", params={"in_stock": "1"})
    assert "1–3 de 6 locais" in stocked.text
    locations = signed_in.get("/console/locations", params={"page": "2"})
    assert "5–8 de 9 locais" in locations.text
    assert 'href="/console/locations?page=3"' in locations.text
    assert "1–3 de 3 produtos" in signed_in.get("/console/skus", params={"page": "9"}).text
    stock = signed_in.get("/console/locations/LJ-SP-PAULISTA", params={"page": "x"})
    assert "1–2 de 2 SKUs" in stock.text


def test_unexpected_errors_get_a_friendly_page(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(inventory_routes.catalog, "list_products", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        sign_in(client)
        page = client.get("/console/skus")
        assert page.status_code == 500
        assert "Algo deu errado" in page.text
        assert "boom" not in page.text


def test_times_are_shown_in_the_locations_own_zone(signed_in: TestClient, db: Database) -> None:
    """Manaus is UTC−4 and São Paulo UTC−3: 15:00 UTC is 11:00 there and 12:00 here."""
    moment = dt.datetime(2026, 1, 15, 15, 0, tzinfo=dt.UTC)
    with db.write() as s:
        codes = ["LJ-MAO-CENTRO", "LJ-SP-PAULISTA"]
        for location in s.scalars(select(Location).where(Location.code.in_(codes))):
            location.updated_at = moment
        receive(s, "CEL-A15", "LJ-MAO-CENTRO", 3)
    catalog.forget_directory()  # the directory ignores updated_at alone
    manaus = signed_in.get("/console/locations/LJ-MAO-CENTRO").text
    assert "America/Manaus" in manaus and "15/01/2026 11:00" in manaus
    assert "15/01/2026 12:00" in signed_in.get("/console/locations/LJ-SP-PAULISTA").text
    sku_page = signed_in.get("/console/skus/CEL-A15").text
    row = re.search(
        r'<tr>\s*<td><a href="/console/locations/LJ-MAO-CENTRO".*?</tr>', sku_page, re.S
    )
    assert row is not None
    with db.read() as s:
        as_of = s.scalars(
            select(StockLevel.as_of)
            .join(Location, Location.id == StockLevel.location_id)
            .join(Product, Product.id == StockLevel.product_id)
            .where(Location.code == "LJ-MAO-CENTRO", Product.sku == "CEL-A15")
        ).one()
    assert text_pt.datetime_br(as_of, "America/Manaus") in row.group(0)
    feed = signed_in.get("/console/feed").text
    assert "LJ-MAO-CENTRO&#34;: &#34;America/Manaus" in feed
    assert "LJ-SP-PAULISTA" not in feed.split("data-zones=")[1].split(">")[0]
