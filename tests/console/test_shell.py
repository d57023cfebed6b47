"""What the console shell gives every page: navigation per role, CSV downloads in the two
house forms, and charts (drawn in tests/console/test_browser.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.console.export import csv_lines, machine_cell, person_cell
from sincro.db import Database
from tests.console.support import ADMIN_NAV, seed_world, sign_in

STORE_EMAIL = "loja@example.com"
STORE_PASSWORD = "senha-da-loja-123"


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as session:
        seed_world(session)
        access.create_user(session, STORE_EMAIL, "Equipe da Loja", STORE_PASSWORD, Role.store)
    with TestClient(create_app(settings)) as client:
        yield client


def nav_labels(html: str) -> list[str]:
    nav = html.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in nav.split("<a ")[1:]]


def test_admin_sees_every_section(client: TestClient) -> None:
    assert sign_in(client).status_code == 303
    page = client.get("/console/skus")
    assert nav_labels(page.text) == ADMIN_NAV


def test_a_store_user_sees_only_its_sections_and_gets_403_elsewhere(client: TestClient) -> None:
    assert sign_in(client, STORE_EMAIL, STORE_PASSWORD).status_code == 303
    page = client.get("/console/skus")
    assert "Sincronização" not in nav_labels(page.text)
    assert "Busca" in nav_labels(page.text)
    refused = client.get("/console/sync")
    assert refused.status_code == 403
    assert "Acesso restrito" in refused.text


def test_location_stock_downloads_as_pt_br_excel_csv(client: TestClient, db: Database) -> None:
    sign_in(client)
    response = client.get("/console/locations/LJ-SP-PAULISTA/stock.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "estoque-LJ-SP-PAULISTA.csv" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["sku", "produto", "disponivel"]
    by_sku = {row[0]: row for row in rows[1:]}
    assert set(by_sku) == {"CEL-A15", "CHIP-5G"}
    assert by_sku["CHIP-5G"][3] == "250"
    assert "/" in by_sku["CHIP-5G"][6]  # dd/mm/aaaa HH:MM


def test_location_stock_downloads_as_plain_csv_for_machines(client: TestClient) -> None:
    sign_in(client)
    response = client.get("/console/locations/LJ-SP-PAULISTA/stock.csv?formato=dados")
    text = response.content.decode("utf-8")
    assert not text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["sku"] for row in rows} == {"CEL-A15", "CHIP-5G"}
    assert all(row["atualizado_em"].endswith("Z") for row in rows)


def test_csv_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/console/locations/LJ-SP-PAULISTA/stock.csv", follow_redirects=False)
    assert response.status_code == 303


def test_cells_for_people_and_for_machines() -> None:
    moment = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)
    assert person_cell(Decimal("1234.50")) == "1234,5"
    assert person_cell(0.0) == "0"
    assert person_cell(True) == "Sim"
    assert person_cell(moment) == "06/12/2026 12:30"  # São Paulo, UTC-3
    assert person_cell(dt.date(2026, 1, 2)) == "02/01/2026"
    assert machine_cell(moment) == "2026-12-06T15:30:00Z"
    assert machine_cell(Decimal("1234.50")) == "1234.50"


@pytest.mark.parametrize("value", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tcmd"])
def test_a_cell_a_spreadsheet_would_run_is_defused(value: str) -> None:
    assert person_cell(value).startswith("'")
    assert machine_cell(value) == value


def test_large_exports_stream_in_chunks() -> None:
    chunks = list(csv_lines(["n"], ([i] for i in range(1200))))
    assert len(chunks) == 3
    assert "".join(chunks).count("\r\n") == 1201
