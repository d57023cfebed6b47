"""All SQL of the sales history (``sales_daily``) and its roll-up from the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.db import insert_rows, utcnow
from sincro.inventory.models import HistoryCursor, Movement, SalesDay, SalesDayUF, StockLevel

CURSOR = "sales"


def _insert(session: Session) -> Any:
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert


def cursor_position(session: Session, *, lock: bool = False) -> int:
    query = select(HistoryCursor.last_movement_id).where(HistoryCursor.name == CURSOR)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return int(session.scalar(query) or 0)


def move_cursor(session: Session, position: int) -> None:
    stmt = _insert(session)(HistoryCursor).values(
        name=CURSOR, last_movement_id=position, updated_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"last_movement_id": stmt.excluded.last_movement_id, "updated_at": utcnow()},
        )
    )


def movements_after(session: Session, after_id: int, limit: int) -> Sequence[Any]:
    """The next ``limit`` ledger rows after ``after_id`` (every reason: the cursor passes
    them all; the caller keeps the sales)."""
    return session.execute(
        select(
            Movement.id,
            Movement.product_id,
            Movement.location_id,
            Movement.bucket,
            Movement.quantity,
            Movement.reason,
            Movement.occurred_at,
        )
        .where(Movement.id > after_id)
        .order_by(Movement.id)
        .limit(limit)
    ).all()


def add_sales(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add units to days (rows: product_id, location_id, day, units, online_units)."""
    if not rows:
        return
    stmt = _insert(session)(SalesDay)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["product_id", "location_id", "day"],
            set_={
                "units": SalesDay.units + stmt.excluded.units,
                "online_units": SalesDay.online_units + stmt.excluded.online_units,
            },
        ),
        [{**r, "stockout": False} for r in rows],
    )


def mark_stockouts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Mark days censored (rows: product_id, location_id, day)."""
    if not rows:
        return
    stmt = _insert(session)(SalesDay)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["product_id", "location_id", "day"], set_={"stockout": true()}
        ),
        [{**r, "units": 0, "online_units": 0, "stockout": True} for r in rows],
    )


def out_of_stock_pairs(
    session: Session, pairs: Iterable[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """(product_id, location_id) of levels with nothing sellable (on hand − reserved − blocked
    ≤ 0), among ``pairs`` or everywhere."""
    blocked = StockLevel.blocked_quality + StockLevel.blocked_stock + StockLevel.blocked_returns
    query = select(StockLevel.product_id, StockLevel.location_id).where(
        StockLevel.on_hand - StockLevel.reserved - blocked <= 0
    )
    if pairs is not None:
        wanted = sorted(set(pairs))
        if not wanted:
            return []
        found: list[tuple[int, int]] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            products = {p for p, _ in chunk}
            locations = {loc for _, loc in chunk}
            rows = session.execute(
                query.where(
                    StockLevel.product_id.in_(products), StockLevel.location_id.in_(locations)
                )
            ).all()
            found += [(p, loc) for p, loc in rows if (p, loc) in set(chunk)]
        return found
    return [(p, loc) for p, loc in session.execute(query)]


def load_days(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert history days (demo load, imports): rows with every column."""
    insert_rows(session, SalesDay.__table__, rows)  # type: ignore[arg-type]


def days(
    session: Session,
    *,
    product_ids: Collection[int] | None,
    location_ids: Collection[int] | None,
    start: dt.date,
    end: dt.date,
) -> Sequence[Any]:
    """Daily rows in [start, end] (unordered: the reader groups them)."""
    query = select(
        SalesDay.product_id,
        SalesDay.location_id,
        SalesDay.day,
        SalesDay.units,
        SalesDay.online_units,
        SalesDay.stockout,
    ).where(and_(SalesDay.day >= start, SalesDay.day <= end))
    if product_ids is not None:
        query = query.where(SalesDay.product_id.in_(list(product_ids)))
    if location_ids is not None:
        query = query.where(SalesDay.location_id.in_(list(location_ids)))
    # Core, not the ORM: millions of plain tuples for a frame
    return session.connection().execute(query).all()


def uf_days(
    session: Session,
    *,
    product_ids: Collection[int] | None,
    start: dt.date,
    end: dt.date,
) -> Sequence[Any]:
    """Days kept per UF in [start, end] (unordered)."""
    query = select(
        SalesDayUF.product_id,
        SalesDayUF.state,
        SalesDayUF.day,
        SalesDayUF.units,
        SalesDayUF.online_units,
        SalesDayUF.stockout,
    ).where(and_(SalesDayUF.day >= start, SalesDayUF.day <= end))
    if product_ids is not None:
        query = query.where(SalesDayUF.product_id.in_(list(product_ids)))
    return session.connection().execute(query).all()


def history_span(session: Session) -> tuple[dt.date | None, dt.date | None]:
    first, last = None, None
    for model in (SalesDay, SalesDayUF):
        low, high = session.execute(select(func.min(model.day), func.max(model.day))).one()
        if low is not None:
            first = low if first is None else min(first, low)
            last = high if last is None else max(last, high)
    return first, last
