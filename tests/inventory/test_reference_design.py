"""The saturation benchmark's yardsticks (``bench/baselines.py``) answer what they claim.

The reference design rebuilt small must do the real work Sincro's online summary replaces:
its one SQL aggregation per request must give the same ``online_available`` and
``locations_with_stock`` as Sincro's snapshot, on SQLite and PostgreSQL, for a SKU stocked at
shipping, non-shipping and inactive locations, one of them oversold by its safety stock, and
a SKU with no stock. The bare ASGI floor must answer any path with its fixed body.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.baselines import bare_app, reference_app
from sqlalchemy import update

from sincro.catalog.models import Location, Product
from sincro.db import Database
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.models import StockLevel
from tests.conftest import wipe
from tests.factories import make_location, make_product, receive


def _seed(db: Database) -> None:
    wipe(db)
    with db.write() as s:
        make_location(s, code="CD-1", kind="dc", ships_online=True)
        make_location(s, code="LJ-A")
        make_location(s, code="LJ-B", ships_online=False)
        make_location(s, code="LJ-OFF", active=False)
        make_location(s, code="LJ-NEG")
        for sku in ("P-1", "P-2"):
            make_product(s, sku=sku)
    with db.write() as s:
        for code, qty in (("CD-1", 100), ("LJ-A", 30), ("LJ-B", 3), ("LJ-OFF", 7), ("LJ-NEG", 2)):
            receive(s, "P-1", code, qty)
    with db.write() as s:  # more safety stock than stock: counts as 0, not as -3
        s.execute(
            update(StockLevel)
            .where(
                StockLevel.product_id == Product.id,
                Product.sku == "P-1",
                StockLevel.location_id == Location.id,
                Location.code == "LJ-NEG",
            )
            .values(safety_stock=5)
        )


def test_the_reference_design_aggregates_what_the_summary_shows(db: Database) -> None:
    _seed(db)
    cache = AvailabilityCache(db)
    app = reference_app(db.url)
    client = app.test_client()
    try:
        for sku in ("P-1", "P-2"):
            answer = client.get(f"/v1/availability/{sku}")
            assert answer.status_code == 200
            assert answer.get_json() == cache.get(sku).summary()
        assert client.get("/v1/availability/P-1").get_json()["online_available"] == 130
        assert client.get("/v1/availability/NOPE").status_code == 404
    finally:
        app.extensions["engine"].dispose()


def test_the_bare_floor_answers_any_path_with_its_body() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/anything"}
    asyncio.run(bare_app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()
    assert sent[1]["body"] == b'{"status":"ok"}'
