"""A reservation in flight locks its stock level, not its product's nor its store's row.

Every reservation of a flash sale writes a line and a ledger row for the same few SKUs at the
same store. A foreign key from those rows to ``products`` or ``locations`` would make
PostgreSQL lock the parent row (``FOR KEY SHARE``, written to the WAL) on each insert, and make
concurrent reservations share that lock through a MultiXact (migrations 0035, 0036). Here a
reservation is held open — the lean statement, then the general path — while another
connection tries to lock the product's and the store's rows with ``NOWAIT``: it must get both
at once. The level itself stays locked (that lock is what prevents oversell).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from sincro.catalog import service as catalog
from sincro.db import Database
from sincro.inventory import lean, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn, ReservationLineIn
from sincro.pgasync import conninfo
from tests.conftest import wipe
from tests.factories import make_location, make_product


@pytest.fixture
def stocked(postgres_url: str) -> Iterator[tuple[Database, int, int]]:
    """A PostgreSQL database with 5 units of P-X at L-A; (db, product id, location id)."""
    db = Database(postgres_url)
    wipe(db)
    try:
        with db.write() as s:
            location = make_location(s, code="L-A")
            product = make_product(s, sku="P-X")
            ids = product.id, location.id
        with db.write() as s:
            service.apply_movements(
                s, "pos", [MovementIn(sku="P-X", location="L-A", quantity=5, reason=Reason.receipt)]
            )
            catalog.product_ids(s, ["P-X"])
            catalog.directory(s)
        yield db, *ids
    finally:
        db.dispose()


def _lockable(url: str, table: str, row_id: int) -> bool:
    """Whether another session can lock the row ``FOR UPDATE`` without waiting."""
    with psycopg.connect(conninfo(url), autocommit=True) as other:
        try:
            other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [row_id])
        except psycopg.errors.LockNotAvailable:
            return False
    return True


def _parents_free(url: str, product_id: int, location_id: int) -> dict[str, bool]:
    return {
        "products": _lockable(url, "products", product_id),
        "locations": _lockable(url, "locations", location_id),
    }


def _level_locked(url: str, product_id: int, location_id: int) -> bool:
    with psycopg.connect(conninfo(url), autocommit=True) as other:
        try:
            other.execute(
                "SELECT 1 FROM stock_levels WHERE product_id = %s AND location_id = %s"
                " FOR UPDATE NOWAIT",
                [product_id, location_id],
            )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def test_the_lean_statement_locks_no_parent_row(
    stocked: tuple[Database, int, int], postgres_url: str
) -> None:
    _db, product_id, location_id = stocked
    req = lean.LeanReservation(
        "key:shop", 7, "P-X", "L-A", 1, 600, idempotency=("reservations:7", "k", "h")
    )
    params: dict[str, Any] = lean._params(req, (product_id, location_id))[0]
    with psycopg.connect(conninfo(postgres_url)) as conn:  # one transaction, held open
        held = conn.execute(lean.PG_KEYED, params).fetchone()
        assert held is not None and held[0] == 1
        assert _level_locked(postgres_url, product_id, location_id)
        assert _parents_free(postgres_url, product_id, location_id) == {
            "products": True,
            "locations": True,
        }
        conn.rollback()


def test_the_general_path_locks_no_parent_row(
    stocked: tuple[Database, int, int], postgres_url: str
) -> None:
    db, product_id, location_id = stocked
    with db.write() as s:
        line = ReservationLineIn(sku="P-X", qty=2, location="L-A")
        service.reserve(s, "key:shop", [line], 600, owner_key_id=7)
        s.flush()
        assert _level_locked(postgres_url, product_id, location_id)
        assert _parents_free(postgres_url, product_id, location_id) == {
            "products": True,
            "locations": True,
        }
    with db.read() as s:
        assert service.verify(s) == []
