"""Locations carry an IANA time zone: from the UF when none is given, validated when one is;
the API answers in UTC whatever the zone."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import create_engine, text

from sincro.app import create_app
from sincro.catalog import service as catalog
from sincro.catalog.schemas import LocationIn
from sincro.catalog.timezones import zone_for
from sincro.config import Settings
from sincro.db import Database, postgres_url
from sincro.demo.operator import generate_locations
from sincro.migrate import downgrade, upgrade
from tests.factories import make_key

BASE = {
    "code": "LJ-X",
    "kind": "store",
    "name": "Loja X",
    "city": "Cidade",
    "latitude": -10.0,
    "longitude": -50.0,
}


@pytest.mark.parametrize(
    ("state", "city", "zone"),
    [
        ("SP", "São Paulo", "America/Sao_Paulo"),
        ("BA", "Salvador", "America/Sao_Paulo"),
        ("RS", "Porto Alegre", "America/Sao_Paulo"),
        ("PE", "Recife", "America/Sao_Paulo"),
        ("PE", "Fernando de Noronha", "America/Noronha"),
        ("AM", "Manaus", "America/Manaus"),
        ("RR", "Boa Vista", "America/Boa_Vista"),
        ("RO", "Porto Velho", "America/Porto_Velho"),
        ("MT", "Cuiabá", "America/Cuiaba"),
        ("MS", "Campo Grande", "America/Campo_Grande"),
        ("AC", "Rio Branco", "America/Rio_Branco"),
    ],
)
def test_zone_defaults_from_the_uf(state: str, city: str, zone: str) -> None:
    assert zone_for(state, city) == zone
    assert LocationIn(**{**BASE, "state": state, "city": city}).time_zone == zone


def test_an_explicit_zone_wins_and_must_exist() -> None:
    given = LocationIn(**{**BASE, "state": "SP", "time_zone": "America/Manaus"})
    assert given.time_zone == "America/Manaus"
    for bad in ("America/Atlantida", "../../etc/passwd", "a" * 41, "X\x00"):
        with pytest.raises(ValidationError) as info:
            LocationIn(**{**BASE, "state": "SP", "time_zone": bad})
        assert info.value.errors()[0]["loc"] == ("time_zone",)


def test_the_demo_spreads_its_stores_over_brazils_zones() -> None:
    locations = generate_locations()
    assert all(loc.time_zone == zone_for(loc.state, loc.city) for loc in locations)
    zones = {loc.time_zone for loc in locations}
    assert {"America/Sao_Paulo", "America/Manaus", "America/Cuiaba", "America/Rio_Branco"} <= zones


def test_the_api_stores_the_zone_and_answers_in_utc(db: Database, settings: Settings) -> None:
    with db.write() as s:
        key = make_key(s)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        put = client.put(
            "/v1/locations/LJ-AC",
            json={**BASE, "code": "LJ-AC", "state": "AC", "city": "Rio Branco"},
            headers=headers,
        )
        assert put.status_code == 201, put.text
        assert put.json()["time_zone"] == "America/Rio_Branco"
        bad = client.put(
            "/v1/locations/LJ-AC",
            json={**BASE, "code": "LJ-AC", "state": "AC", "time_zone": "Mars/Olympus"},
            headers=headers,
        )
        assert bad.status_code == 422
        assert "time_zone" in bad.text
        got = client.get("/v1/locations/LJ-AC", headers=headers).json()
    assert got["time_zone"] == "America/Rio_Branco"
    with db.read() as s:
        place = catalog.places_by_code(s, ["LJ-AC"])["LJ-AC"]
    assert place.time_zone == "America/Rio_Branco"
    assert place.updated_at.utcoffset() == dt.timedelta(0)


INSERT_LOCATION = text(
    "INSERT INTO locations (code, kind, name, city, state, latitude, longitude, ships_online,"
    " pickup_enabled, active, created_at, updated_at) VALUES (:code, 'store', 'L', :city,"
    " :state, 0, 0, true, true, true, '2026-12-06 10:00:00', '2026-12-06 10:00:00')"
)


def test_the_migration_fills_existing_locations_from_their_uf(fresh_url: str) -> None:
    upgrade(fresh_url, "0011")
    engine = create_engine(postgres_url(fresh_url))
    rows = [("A", "São Paulo", "SP"), ("B", "Manaus", "AM"), ("C", "Fernando de Noronha", "PE")]
    try:
        with engine.begin() as conn:
            for code, city, state in rows:
                conn.execute(INSERT_LOCATION, {"code": code, "city": city, "state": state})
        upgrade(fresh_url, "0014")
        with engine.connect() as conn:
            zones = dict(conn.execute(text("SELECT code, time_zone FROM locations")).all())
        assert zones == {"A": "America/Sao_Paulo", "B": "America/Manaus", "C": "America/Noronha"}
        downgrade(fresh_url, "0011")
        upgrade(fresh_url)
    finally:
        engine.dispose()
