"""The set-based ERP path (inventory.bulk) against the reference: the same lines applied one by
one through ``apply_movements(erp_known=True)``.

Two mirrored sets of levels start equal; one receives a random batch through
:func:`apply_erp_lines`, the other line by line (a refused line simply not applied). Levels,
ledger rows, refused lines and the events each line produced (with the level after that line)
must be the same, and the ledger must still reconcile.
"""

from __future__ import annotations

import datetime as dt

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from sincro.db import Database, utcnow
from sincro.events import Event
from sincro.inventory import bulk, service
from sincro.inventory.exceptions import InsufficientStock
from sincro.inventory.models import Bucket, Movement, Reason, StockLevel
from sincro.inventory.schemas import MovementIn
from tests.factories import make_location, make_product

SKUS = ["B-1", "B-2"]
SIDES = {"bulk": ["BA-1", "BA-2"], "line": ["BL-1", "BL-2"]}
WRITABLE = [Bucket.on_hand, Bucket.blocked_quality, Bucket.blocked_stock, Bucket.blocked_returns]
WHEN = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

line_strategy = st.tuples(
    st.integers(0, len(SKUS) - 1),
    st.integers(0, 1),
    st.sampled_from(WRITABLE),
    st.integers(-6, 6).filter(bool),
)


@pytest.fixture
def mirrored(db: Database) -> Database:
    with db.write() as s:
        for codes in SIDES.values():
            for code in codes:
                make_location(s, code=code)
        for sku in SKUS:
            make_product(s, sku=sku)
    return db


def _ids(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    from sincro.catalog.models import Location, Product

    with db.read() as s:
        products = dict(s.execute(select(Product.sku, Product.id)).tuples().all())
        locations = dict(s.execute(select(Location.code, Location.id)).tuples().all())
    return products, locations


def _levels(db: Database, codes: list[str], locations: dict[str, int]) -> list[tuple]:
    back = {locations[c]: i for i, c in enumerate(codes)}
    with db.read() as s:
        rows = s.execute(
            select(
                StockLevel.product_id,
                StockLevel.location_id,
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.blocked_quality,
                StockLevel.blocked_stock,
                StockLevel.blocked_returns,
                StockLevel.version,
            ).where(StockLevel.location_id.in_(back))
        ).all()
    # an empty level (version 0) may be left where every line was refused: it means no stock
    return sorted((p, back[loc], *rest) for p, loc, *rest in rows if rest[-1] > 0)


def _ledger(db: Database, codes: list[str], locations: dict[str, int], after: int) -> list[tuple]:
    back = {locations[c]: i for i, c in enumerate(codes)}
    with db.read() as s:
        rows = s.execute(
            select(
                Movement.product_id,
                Movement.location_id,
                Movement.bucket,
                Movement.quantity,
                Movement.reference,
                Movement.erp_known_at,
            )
            .where(Movement.location_id.in_(back), Movement.id > after)
            .order_by(Movement.id)
        ).all()
    return sorted((p, back[loc], *rest) for p, loc, *rest in rows)


def _events(db: Database, codes: list[str], after: int) -> list[tuple]:
    with db.read() as s:
        rows = s.execute(
            select(Event.sku, Event.location, Event.on_hand, Event.available, Event.version)
            .where(Event.location.in_(codes), Event.seq > after)
            .order_by(Event.seq)
        ).all()
    # per level in order (versions grow); the order between levels carries no meaning
    return sorted((sku, codes.index(loc), *rest) for sku, loc, *rest in rows)


def _high_water(db: Database) -> tuple[int, int]:
    with db.read() as s:
        m = s.scalar(select(Movement.id).order_by(Movement.id.desc()).limit(1)) or 0
        e = s.scalar(select(Event.seq).order_by(Event.seq.desc()).limit(1)) or 0
    return m, e


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(line_strategy, min_size=1, max_size=25))
def test_bulk_equals_line_by_line(mirrored: Database, batch: list[tuple]) -> None:
    db = mirrored
    products, locations = _ids(db)
    skus = {products[s]: s for s in SKUS}
    m0, e0 = _high_water(db)
    refs = [f"DOC/2026/{i + 1}" for i in range(len(batch))]

    lines = [
        bulk.ErpLine(
            products[SKUS[p]],
            locations[SIDES["bulk"][loc]],
            bucket,
            qty,
            Reason.receipt,
            occurred_at=WHEN,
            reference=refs[i],
        )
        for i, (p, loc, bucket, qty) in enumerate(batch)
    ]
    with db.write() as s:
        short = bulk.apply_erp_lines(s, "erp", lines, skus)
    refused_bulk = {line.index for line in short}

    refused_one = set()
    for i, (p, loc, bucket, qty) in enumerate(batch):
        movement = MovementIn(
            sku=SKUS[p],
            location=SIDES["line"][loc],
            quantity=qty,
            reason=Reason.receipt,
            bucket=bucket,
            occurred_at=WHEN,
            reference=refs[i],
        )
        try:
            with db.write() as s:
                service.apply_movements(s, "erp", [movement], erp_known=True)
        except InsufficientStock:
            refused_one.add(i)

    assert refused_bulk == refused_one
    assert _levels(db, SIDES["bulk"], locations) == _levels(db, SIDES["line"], locations)
    assert _ledger(db, SIDES["bulk"], locations, m0) == _ledger(db, SIDES["line"], locations, m0)
    assert _events(db, SIDES["bulk"], e0) == _events(db, SIDES["line"], e0)
    with db.read() as s:
        assert service.verify(s) == []


def test_refused_line_alone_and_the_rest_applied(mirrored: Database) -> None:
    """A level whose lines cannot all apply is replayed line by line: only the short line is
    refused, the later lines of the same level still apply."""
    db = mirrored
    products, locations = _ids(db)
    skus = {products[s]: s for s in SKUS}
    p, a, b = products["B-1"], locations["BA-1"], locations["BA-2"]
    lines = [
        bulk.ErpLine(p, a, Bucket.on_hand, 5, Reason.receipt, WHEN, "D/1"),
        bulk.ErpLine(p, a, Bucket.on_hand, -7, Reason.sale, WHEN, "D/2"),  # short: has 5
        bulk.ErpLine(p, a, Bucket.on_hand, -2, Reason.sale, WHEN, "D/3"),
        bulk.ErpLine(p, b, Bucket.on_hand, 3, Reason.receipt, WHEN, "D/4"),
    ]
    with db.write() as s:
        short = bulk.apply_erp_lines(s, "erp", lines, skus)
    assert [(x.index, x.available) for x in short] == [(1, 5)]
    levels = {row[1]: row for row in _levels(db, ["BA-1", "BA-2"], locations)}
    assert levels[0][2] == 3 and levels[0][7] == 2  # on_hand 5 - 2, two changes
    assert levels[1][2] == 3 and levels[1][7] == 1
    with db.read() as s:
        assert service.verify(s) == []
        assert s.scalar(select(Movement.erp_known_at).where(Movement.reference == "D/4")) == WHEN


def test_rejects_what_is_not_an_erp_change(mirrored: Database) -> None:
    db = mirrored
    products, locations = _ids(db)
    line = bulk.ErpLine(
        products["B-1"], locations["BA-1"], Bucket.reserved, 1, Reason.receipt, utcnow()
    )
    with db.write() as s, pytest.raises(ValueError, match="not an ERP stock change"):
        bulk.apply_erp_lines(s, "erp", [line], {})


def test_erp_lines_cannot_push_a_level_past_the_bound(mirrored: Database) -> None:
    """The bound PUT enforces holds for ERP lines too: the line that would pass it is refused,
    the others of the same level apply."""
    db = mirrored
    products, locations = _ids(db)
    skus = {products[s]: s for s in SKUS}
    p, a = products["B-1"], locations["BA-1"]
    near = [bulk.ErpLine(p, a, Bucket.on_hand, 999_999, Reason.receipt, WHEN) for _ in range(10)]
    with db.write() as s:
        assert bulk.apply_erp_lines(s, "erp", near, skus) == []  # 9,999,990
    lines = [
        bulk.ErpLine(p, a, Bucket.on_hand, 11, Reason.receipt, WHEN, "D/1"),  # past the bound
        bulk.ErpLine(p, a, Bucket.on_hand, 10, Reason.receipt, WHEN, "D/2"),  # exactly to it
    ]
    with db.write() as s:
        short = bulk.apply_erp_lines(s, "erp", lines, skus)
    assert [(x.index, x.available) for x in short] == [(0, 9_999_990)]
    assert _levels(db, ["BA-1"], locations)[0][2] == 10_000_000
    with db.read() as s:
        assert service.verify(s) == []
