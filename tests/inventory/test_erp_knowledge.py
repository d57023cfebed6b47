"""What the ERPs know: the one pending rule, balances, snapshots applied through
``inventory.snapshots`` without a connector, and the write-back reads and acknowledgements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.orm import Session

from sincro.db import Database
from sincro.events import Event
from sincro.inventory import service as inventory, snapshots
from sincro.inventory.models import Bucket, Movement, Reason, StockLevel
from sincro.inventory.schemas import MovementIn
from tests.factories import make_location, make_product

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
T = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
ERP = "erp:test"


@dataclass
class Ids:
    p1: int
    p2: int
    a: int
    b: int


def _move(
    s: Session,
    sku: str,
    location: str,
    qty: int,
    reason: Reason = Reason.receipt,
    *,
    erp_at: dt.datetime | None = None,
    source: str = "test",
    bucket: Bucket = Bucket.on_hand,
    reference: str | None = None,
) -> None:
    line = MovementIn(
        sku=sku,
        location=location,
        quantity=qty,
        reason=reason,
        bucket=bucket,
        occurred_at=erp_at,
        reference=reference,
    )
    inventory.apply_movements(s, ERP if erp_at else source, [line], erp_known=erp_at is not None)


@pytest.fixture
def ids(db: Database) -> Ids:
    """P1@A: 10 known to the ERP at T0, then a Sincro sale of 2 (unknown); P2@A: 5 known;
    P1@B: 4 known."""
    with db.write() as s:
        a, b = make_location(s, code="LA"), make_location(s, code="LB")
        p1, p2 = make_product(s, sku="P-1"), make_product(s, sku="P-2")
        _move(s, "P-1", "LA", 10, erp_at=T0)
        _move(s, "P-1", "LA", -2, Reason.sale)
        _move(s, "P-2", "LA", 5, erp_at=T0)
        _move(s, "P-1", "LB", 4, erp_at=T0)
        return Ids(p1.id, p2.id, a.id, b.id)


def _level(s: Session, product_id: int, location_id: int) -> tuple[int, int]:
    row = s.execute(
        select(StockLevel.on_hand, StockLevel.blocked_quality).where(
            StockLevel.product_id == product_id, StockLevel.location_id == location_id
        )
    ).one()
    return row[0], row[1]


def test_the_rule_counts_what_the_erp_did_not_know(db: Database, ids: Ids) -> None:
    with db.write() as s:
        _move(s, "P-2", "LA", 3, erp_at=LATER)  # posted after T: unknown at T
        s.add(
            Movement(
                product_id=ids.p2,
                location_id=ids.a,
                bucket="on_hand",
                quantity=7,
                reason="correction",
                source=ERP,
                reference=snapshots.reference(1),
                occurred_at=LATER,
                erp_known_at=LATER,
            )
        )  # an earlier snapshot's own correction: never replayed
        _move(s, "P-2", "LA", 1, bucket=Bucket.blocked_quality)  # not on hand
    with db.read() as s:
        assert snapshots.on_hand_unknown_to_erp(s, T, [ids.a, ids.b]) == {
            (ids.p1, ids.a): -2,
            (ids.p2, ids.a): 3,
        }
        assert snapshots.on_hand_unknown_to_erp(s, T, [ids.a], [ids.p2]) == {(ids.p2, ids.a): 3}
        assert snapshots.on_hand_unknown_to_erp(s, T, [ids.b]) == {}
        assert snapshots.on_hand_unknown_to_erp(s, T, []) == {}


def test_balance_corrections(db: Database, ids: Ids) -> None:
    with db.read() as s:
        lines = snapshots.balance_corrections(
            s,
            {(ids.p1, ids.a): 10, (ids.p2, ids.a): 5, (ids.p2, ids.b): 6, (ids.p1, ids.b): 1},
            T,
            reference="rest:balance",
        )
    # P1@A: max(0, 10 - 2) = 8 = on hand; P2@A agrees; P2@B is new; P1@B drifted by -3
    assert [(ln.product_id, ln.location_id, ln.quantity) for ln in lines] == [
        (ids.p1, ids.b, -3),
        (ids.p2, ids.b, 6),
    ]
    assert {(ln.bucket, ln.reason, ln.occurred_at, ln.reference) for ln in lines} == {
        (Bucket.on_hand, Reason.correction, T, "rest:balance")
    }


def _stage(s: Session, rows: list[tuple[int, ...]]) -> None:
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        snapshots.stage_rows(conn, ["\t".join(map(str, r)) + "\n" for r in rows])
    else:
        snapshots.stage_rows(conn, rows)


def test_snapshot_applied_through_inventory(db: Database, ids: Ids) -> None:
    with db.write() as s:
        snapshots.create_tables(s.connection())
        _stage(
            s,
            [
                (1, ids.p1, ids.a, 11, 1, 0, 0, 9),  # reported 12, pending -2: on hand 10
                (2, ids.p2, ids.a, 5, 0, 0, 0, 0),  # agrees: not touched
                (3, ids.p2, ids.b, 3, 0, 0, 0, 0),  # a new position
            ],
        )
        assert snapshots.prepare(s.connection(), T, duplicates=False) == 2
        assert snapshots.apply_chunk(s, ERP, 42, T, 0, 1) == 1
        assert snapshots.apply_chunk(s, ERP, 42, T, 1, 3) == 1
        assert snapshots.apply_chunk(s, ERP, 42, T, 0, 3) == 0  # again: nothing differs
        assert snapshots.position_totals(s) == (3, 20)
        summary = snapshots.drift_summary(s, ERP, 42)
        missing = snapshots.missing_positions(s)
        snapshots.drop_tables(s.connection())
    assert (summary.positions, summary.units_abs, summary.units_sum) == (2, 5, 5)
    assert [(d.sku, d.location, d.reported, d.expected) for d in summary.largest] == [
        ("P-2", "LB", 3, 0),
        ("P-1", "LA", 12, 10),
    ]
    assert (missing.count, missing.units, missing.sample) == (1, 4, [("P-1", "LB", 4)])
    with db.read() as s:
        assert _level(s, ids.p1, ids.a) == (10, 1)
        assert _level(s, ids.p2, ids.a) == (5, 0)
        assert _level(s, ids.p2, ids.b) == (3, 0)
        ledger = s.execute(
            select(Movement.product_id, Movement.bucket, Movement.quantity, Movement.erp_known_at)
            .where(Movement.reference == "snapshot:42")
            .order_by(Movement.product_id, Movement.bucket)
        ).all()
        assert [tuple(r) for r in ledger] == [
            (ids.p1, "blocked_quality", 1, T),
            (ids.p1, "on_hand", 2, T),
            (ids.p2, "on_hand", 3, T),
        ]
        events = s.scalars(select(Event).where(Event.cause == "snapshot")).all()
        assert sorted((e.sku, e.location, e.on_hand) for e in events) == [
            ("P-1", "LA", 10),
            ("P-2", "LB", 3),
        ]
        # the snapshot's own corrections are known at T: the sale is still all that is pending
        assert snapshots.on_hand_unknown_to_erp(s, LATER, [ids.a]) == {(ids.p1, ids.a): -2}
        assert inventory.verify(s) == []


def test_snapshot_rows_of_one_position_are_summed(db: Database, ids: Ids) -> None:
    with db.write() as s:
        snapshots.create_tables(s.connection())
        _stage(s, [(1, ids.p2, ids.a, 2, 0, 0, 0, 0), (2, ids.p2, ids.a, 4, 0, 1, 0, 0)])
        assert snapshots.prepare(s.connection(), T, duplicates=True) == 1
        assert snapshots.apply_chunk(s, ERP, 7, T, 0, 2) == 1
        snapshots.drop_tables(s.connection())
    with db.read() as s:
        assert _level(s, ids.p2, ids.a) == (7, 0)
        blocked = s.scalar(
            select(StockLevel.blocked_stock).where(
                StockLevel.product_id == ids.p2, StockLevel.location_id == ids.a
            )
        )
        assert blocked == 1


CARRIED = table("carried_ids", column("movement_id"))


def test_movements_for_writeback_and_their_acknowledgement(db: Database, ids: Ids) -> None:
    with db.write() as s:
        _move(s, "P-2", "LA", -1, Reason.sale, reference="order-1")
        _move(s, "P-2", "LA", 2, Reason.transfer)
        _move(s, "P-1", "LB", -1, Reason.sale)  # another location
        _move(s, "P-2", "LA", 1, Reason.receipt, source="erp:other")  # from an ERP connector
        s.execute(text("CREATE TEMPORARY TABLE carried_ids (movement_id INTEGER)"))
        first_sale = s.scalar(
            select(Movement.id).where(Movement.reason == "sale").order_by(Movement.id)
        )
        s.execute(CARRIED.insert().values(movement_id=first_sale))  # P-1 sale of the fixture
        carried = select(CARRIED.c.movement_id)
        unsent = inventory.movements_for_writeback(s, [ids.a], carried)
        assert [(m.product_id, m.quantity, m.reason, m.reference) for m in unsent] == [
            (ids.p2, -1, "sale", "order-1"),
            (ids.p2, 2, "transfer", None),
        ]
        sales = inventory.movements_for_writeback(s, [ids.a], carried, reasons=["sale"])
        assert [m.id for m in sales] == [unsent[0].id]
        assert [m.id for m in inventory.movements_for_writeback(s, [ids.a], carried, limit=1)] == [
            unsent[0].id
        ]
        assert inventory.movements_for_writeback(s, [], carried) == []

        assert inventory.mark_erp_known(s, [m.id for m in unsent], T) == 2
        assert inventory.mark_erp_known(s, [m.id for m in unsent], LATER) == 0  # keeps T
        assert inventory.movements_for_writeback(s, [ids.a], carried) == []
        assert inventory.mark_erp_known(s, carried, T) == 1
        s.execute(text("DROP TABLE carried_ids"))
    with db.read() as s:
        known = s.scalars(select(Movement.erp_known_at).where(Movement.id == unsent[1].id)).one()
        assert known == T


def test_stock_positions(db: Database, ids: Ids) -> None:
    with db.read() as s:
        everything = inventory.stock_positions(s)
        at_a = inventory.stock_positions(s, [ids.a], min_on_hand=6)
    assert [(p.product_id, p.location_id, p.on_hand) for p in everything] == [
        (ids.p1, ids.a, 8),
        (ids.p1, ids.b, 4),
        (ids.p2, ids.a, 5),
    ]
    assert [(p.product_id, p.on_hand, p.blocked_quality) for p in at_a] == [(ids.p1, 8, 0)]
