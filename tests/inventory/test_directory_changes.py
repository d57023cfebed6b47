"""What a new user tripped on: a location or product created or changed through the API is
known to every availability cache at once (the ``directory.changed`` topic), a cold batch is
read in one pass, and the cache warms itself after start. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.events import Event
from sincro.inventory import availability
from sincro.inventory.runtime import availability_cache
from tests.catalog.test_service import count_queries
from tests.factories import make_key, make_location, make_product

NEW_STORE = {
    "code": "LJ-NEW",
    "kind": "store",
    "name": "Loja Nova",
    "city": "Campinas",
    "state": "SP",
    "latitude": -22.9,
    "longitude": -47.06,
    "ships_online": True,
}


@pytest.fixture
def keys(db: Database) -> dict[str, str]:
    with db.write() as s:
        make_location(s, code="CD01", kind="dc")
        make_product(s, sku="CEL-1", name="Smartphone X")
        return {"admin": make_key(s, Role.admin), "channel": make_key(s, Role.channel)}


@pytest.fixture
def replicas(settings: Settings, keys: dict[str, str]) -> Iterator[list[TestClient]]:
    """Two api "replicas" on one database, each with its own availability cache."""
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        yield [one, two]


def eventually(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result


def test_new_location_reaches_every_cache_at_once(
    replicas: list[TestClient], keys: dict[str, str]
) -> None:
    channel = {"X-API-Key": keys["channel"]}
    for client in replicas:  # both caches hold CEL-1 built on the old directory
        assert client.get("/v1/availability/CEL-1?all=true", headers=channel).json()["total"] == 1
    r = replicas[0].put(
        "/v1/locations/LJ-NEW", json=NEW_STORE, headers={"X-API-Key": keys["admin"]}
    )
    assert r.status_code == 201, r.text
    for client in replicas:
        r = client.get("/v1/availability/CEL-1?location=LJ-NEW", headers=channel)
        assert r.status_code == 200, r.text
        assert r.json()["locations"][0]["location"] == "LJ-NEW"
        batch = client.post(
            "/v1/availability/query",
            json={"skus": ["CEL-1", "NOPE"], "location": "LJ-NEW"},
            headers=channel,
        )
        assert batch.status_code == 200, batch.text
        assert [i["locations"][0]["location"] for i in batch.json()["items"]] == ["LJ-NEW"]
        assert batch.json()["unknown"] == ["NOPE"]
        listed = eventually(
            lambda c=client: (
                c.get("/v1/availability/CEL-1?all=true", headers=channel).json()["total"] == 2
            )
        )
        assert listed, "the listing still used the directory from before the new location"


def test_unknown_location_still_fails_the_batch_with_its_field(
    replicas: list[TestClient], keys: dict[str, str]
) -> None:
    r = replicas[0].post(
        "/v1/availability/query",
        json={"skus": ["CEL-1"], "location": "LJ-NONE"},
        headers={"X-API-Key": keys["channel"]},
    )
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "location"


def test_renamed_product_reaches_every_cache(
    replicas: list[TestClient], keys: dict[str, str]
) -> None:
    channel = {"X-API-Key": keys["channel"]}
    for client in replicas:
        assert (
            client.get("/v1/availability/CEL-1", headers=channel).json()["name"] == "Smartphone X"
        )
    product = {"sku": "CEL-1", "name": "Smartphone X2", "category": "celulares", "unit": "UN"}
    r = replicas[1].put("/v1/products/CEL-1", json=product, headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 200, r.text
    for client in replicas:
        renamed = eventually(
            lambda c=client: (
                c.get("/v1/availability/CEL-1", headers=channel).json()["name"] == "Smartphone X2"
            )
        )
        assert renamed


def test_changes_are_published_once_and_unchanged_puts_are_quiet(
    db: Database, replicas: list[TestClient], keys: dict[str, str]
) -> None:
    admin = {"X-API-Key": keys["admin"]}
    for _ in range(2):
        assert replicas[0].put("/v1/locations/LJ-NEW", json=NEW_STORE, headers=admin).is_success
    with db.read() as s:
        payloads = s.scalars(select(Event.payload).where(Event.topic == "directory.changed")).all()
    assert payloads == [{"kind": "location", "codes": ["LJ-NEW"]}]


def test_cold_batch_is_read_in_a_fixed_number_of_statements(
    db: Database, settings: Settings
) -> None:
    with db.write() as s:
        places = [make_location(s, code=f"LJ{i}") for i in range(3)]
        products = [make_product(s, sku=f"P-{i:03d}") for i in range(60)]
    with TestClient(create_app(settings)) as client:
        cache = availability_cache(client.app.state.sincro)  # type: ignore[attr-defined]
        statements = count_queries(cache.db)
        snaps = cache.get_many([p.sku for p in products] + ["NOPE"])
    assert len(snaps) == 60 and "NOPE" not in snaps
    reads = [q for q in statements if q.lstrip().startswith("SELECT") and "FROM events" not in q]
    assert len(reads) <= 5, reads  # products, levels, directory, expired holds, next expiry
    assert len(places) == 3


def test_cache_warms_after_start_without_holding_it(db: Database, settings: Settings) -> None:
    with db.write() as s:
        make_location(s, code="CD01", kind="dc")
        skus = [make_product(s, sku=f"W-{i:03d}").sku for i in range(30)]
    warm = settings.model_copy(update={"availability_warm_skus": 20})
    with TestClient(create_app(warm)) as client:
        cache = availability_cache(client.app.state.sincro)  # type: ignore[attr-defined]
        assert eventually(lambda: sum(cache.peek(sku) is not None for sku in skus) == 20)


def test_batched_load_equals_the_one_by_one_load(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.write() as s:
        for i in range(3):
            make_location(s, code=f"LJ{i}")
        key = make_key(s, Role.admin)
        skus = [make_product(s, sku=f"B-{i}").sku for i in range(5)]
    moves = [
        {"sku": sku, "location": f"LJ{n}", "quantity": 1 + n + i, "reason": "receipt"}
        for i, sku in enumerate(skus[:4])
        for n in range(3)
    ]
    monkeypatch.setattr(availability, "LEVELS_PER_READ", 6)  # two products per statement
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": key, "Idempotency-Key": "batch-1"}
        assert client.post("/v1/movements", json={"movements": moves}, headers=headers).is_success
        hold = {"lines": [{"sku": "B-1", "qty": 2, "location": "LJ1"}], "ttl_seconds": 60}
        assert client.post("/v1/reservations", json=hold, headers={"X-API-Key": key}).is_success
        cache = availability_cache(client.app.state.sincro)  # type: ignore[attr-defined]
        batched = cache.get_many(skus)
    with db.read() as s:
        for sku in skus:
            one = availability.load_snapshot(s, sku)
            for column in ("available", "on_hand", "reserved", "version"):
                assert getattr(batched[sku], column) == getattr(one, column), (sku, column)
            assert batched[sku].next_expiry == one.next_expiry
    assert batched["B-1"].reserved.tolist().count(2) == 1
