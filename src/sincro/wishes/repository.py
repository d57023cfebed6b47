"""All SQL of the wish list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from sincro.db import utcnow
from sincro.wishes.models import StockWish


def open_wish_like(
    session: Session,
    customer_id: int,
    sku: str,
    scope: str,
    location_code: str | None,
    city: str | None,
    state: str | None,
) -> StockWish | None:
    query = select(StockWish).where(
        StockWish.customer_id == customer_id,
        StockWish.sku == sku,
        StockWish.scope == scope,
        StockWish.notified_at.is_(None),
    )
    for column, value in (
        (StockWish.location_code, location_code),
        (StockWish.city, city),
        (StockWish.state, state),
    ):
        query = query.where(column.is_(None) if value is None else column == value)
    return session.scalars(query.limit(1)).first()


def open_count(session: Session, customer_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                StockWish.customer_id == customer_id, StockWish.notified_at.is_(None)
            )
        )
        or 0
    )


def get(session: Session, wish_id: int) -> StockWish | None:
    return session.get(StockWish, wish_id)


def remove(session: Session, wish_id: int) -> bool:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(StockWish).where(StockWish.id == wish_id)
    )
    return bool(result.rowcount)


def page(
    session: Session,
    *,
    customer_id: int | None,
    sku: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[StockWish], int]:
    query = select(StockWish)
    if customer_id is not None:
        query = query.where(StockWish.customer_id == customer_id)
    if sku:
        query = query.where(StockWish.sku == sku)
    if status == "open":
        query = query.where(StockWish.notified_at.is_(None))
    elif status == "notified":
        query = query.where(StockWish.notified_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(StockWish.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def open_wishes_for(session: Session, skus: Iterable[str]) -> list[StockWish]:
    wanted = sorted(set(skus))
    if not wanted:
        return []
    return list(
        session.scalars(
            select(StockWish)
            .where(StockWish.sku.in_(wanted), StockWish.notified_at.is_(None))
            .order_by(StockWish.id)
        )
    )


def claim(
    session: Session,
    wish_id: int,
    *,
    via: str,
    trigger_seq: int | None,
    trigger_location: str | None,
) -> bool:
    """Mark a wish acted on, only if nobody has: one conditional UPDATE, so of any number of
    concurrent claimers exactly one gets True."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(StockWish)
        .where(StockWish.id == wish_id, StockWish.notified_at.is_(None))
        .values(
            notified_at=utcnow(),
            notified_via=via,
            trigger_seq=trigger_seq,
            trigger_location=trigger_location,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def counts_per_day(session: Session, since: dt.datetime) -> list[tuple[Any, int, int]]:
    """(day UTC, wishes made, wishes notified) since ``since``."""
    made: dict[Any, int] = dict(
        session.execute(
            select(func.date(StockWish.created_at), func.count())
            .where(StockWish.created_at >= since)
            .group_by(func.date(StockWish.created_at))
        ).all()
    )
    notified: dict[Any, int] = dict(
        session.execute(
            select(func.date(StockWish.notified_at), func.count())
            .where(StockWish.notified_at >= since)
            .group_by(func.date(StockWish.notified_at))
        ).all()
    )
    days = sorted(set(made) | set(notified), key=str)
    return [(day, int(made.get(day, 0)), int(notified.get(day, 0))) for day in days]


def of_customer(session: Session, customer_id: int) -> list[StockWish]:
    return list(
        session.scalars(
            select(StockWish).where(StockWish.customer_id == customer_id).order_by(StockWish.id)
        )
    )


def remove_of_customer(session: Session, customer_id: int) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(StockWish).where(StockWish.customer_id == customer_id)
    )
    return int(result.rowcount or 0)
