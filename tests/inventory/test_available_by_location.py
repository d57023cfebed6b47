"""``inventory.service.available_by_location``, the lean read the assistant's stock answers
and the wish list use: what the availability snapshot says of each location's units, holds
discounted (an expired hold no sweep has released no longer counts), blocked and safety
stock kept back, inactive locations and places without units left out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import Database, utcnow
from sincro.inventory import service as inventory
from sincro.inventory.availability import load_snapshot
from sincro.inventory.exceptions import UnknownSku
from sincro.inventory.models import ReservationLine, StockLevel
from sincro.inventory.schemas import ReservationLineIn
from tests.factories import make_location, make_product, receive


def snapshot_says(db: Database, sku: str) -> dict[str, int]:
    """The same question answered from the full snapshot (what the function used to read)."""
    with db.read() as s:
        snap = load_snapshot(s, sku)
        return {
            p.code: snap.available[p.position]
            for p in snap.directory.places
            if p.active and snap.available[p.position] > 0
        }


def test_units_per_location_are_the_snapshots(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="CD1", kind="dc")
        make_location(s, code="LJ1")
        make_location(s, code="LJ2")
        make_location(s, code="LJ3")
        make_location(s, code="LJ-OFF", active=False)
        make_location(s, code="LJ-NONE")  # no level at all
        make_product(s, sku="CEL-1")
        make_product(s, sku="CEL-2")
    with db.write() as s:
        for code, qty in (("CD1", 10), ("LJ1", 5), ("LJ2", 4), ("LJ3", 2), ("LJ-OFF", 7)):
            receive(s, "CEL-1", code, qty)
        receive(s, "CEL-2", "LJ1", 1)
    with db.write() as s:  # LJ1: 2 held for a while, 3 held and already expired
        for qty in (2, 3):
            line = ReservationLineIn(sku="CEL-1", qty=qty, location="LJ1")
            inventory.reserve(s, "web", [line], 600)
        s.execute(  # the hold of 3 ran out, and no sweep has released it yet
            update(ReservationLine)
            .where(ReservationLine.quantity == 3)
            .values(expires_at=utcnow() - dt.timedelta(seconds=5))
        )
        # LJ2: 1 blocked for quality and 1 of safety stock; LJ3: all of it blocked
        s.execute(
            update(StockLevel)
            .where(StockLevel.location_id == _id(s, "LJ2"))
            .values(blocked_quality=1, safety_stock=1)
        )
        s.execute(
            update(StockLevel)
            .where(StockLevel.location_id == _id(s, "LJ3"))
            .values(blocked_stock=2)
        )
    with db.read() as s:
        found = inventory.available_by_location(s, "CEL-1")
    assert found == {"CD1": 10, "LJ1": 3, "LJ2": 2}
    assert list(found) == list(snapshot_says(db, "CEL-1"))
    assert found == snapshot_says(db, "CEL-1")
    with db.read() as s:
        assert inventory.available_by_location(s, "CEL-2") == {"LJ1": 1}
        with pytest.raises(UnknownSku):
            inventory.available_by_location(s, "NOPE-1")


def test_a_location_newer_than_the_directory_is_found(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="LJ1")
        make_product(s, sku="CEL-1")
    with db.write() as s:
        receive(s, "CEL-1", "LJ1", 1)
    with db.read() as s:
        assert inventory.available_by_location(s, "CEL-1") == {"LJ1": 1}  # directory cached
    with db.write() as s:
        make_location(s, code="LJ9")
    with db.write() as s:
        receive(s, "CEL-1", "LJ9", 4)
    with db.read() as s:
        assert inventory.available_by_location(s, "CEL-1") == {"LJ1": 1, "LJ9": 4}


def _id(session: Session, code: str) -> int:
    return catalog.directory(session, need_code=code).by_code[code].id
