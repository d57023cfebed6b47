"""All SQL for the catalog's offers: product prices, telecom plans and promotions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from sincro.catalog.models import Product, ProductPrice, Promotion, TelecomPlan


def _page(session: Session, query: Select[Any], offset: int, limit: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return [tuple(row) for row in session.execute(query.offset(offset).limit(limit))], total


# --- prices -----------------------------------------------------------------------------------


def price_row(session: Session, product_id: int, valid_from: dt.date) -> ProductPrice | None:
    return session.scalars(
        select(ProductPrice).where(
            ProductPrice.product_id == product_id, ProductPrice.valid_from == valid_from
        )
    ).first()


def prices_by_start(
    session: Session, product_ids: Iterable[int]
) -> dict[tuple[int, dt.date], ProductPrice]:
    ids = list(set(product_ids))
    if not ids:
        return {}
    rows = session.scalars(select(ProductPrice).where(ProductPrice.product_id.in_(ids)))
    return {(row.product_id, row.valid_from): row for row in rows}


def list_prices(
    session: Session, *, sku: str | None, on: dt.date | None, offset: int, limit: int
) -> tuple[list[tuple[ProductPrice, str]], int]:
    """(price row, sku) pairs by SKU then start date, newest first."""
    query = select(ProductPrice, Product.sku).join(Product, Product.id == ProductPrice.product_id)
    if sku:
        query = query.where(Product.sku == sku)
    if on is not None:
        query = query.where(
            ProductPrice.valid_from <= on,
            or_(ProductPrice.valid_to.is_(None), ProductPrice.valid_to >= on),
        )
    query = query.order_by(Product.sku, ProductPrice.valid_from.desc())
    return _page(session, cast(Select[Any], query), offset, limit)


def prices_on(
    session: Session, product_ids: Sequence[int], on: dt.date
) -> list[tuple[ProductPrice, str]]:
    """(price row, sku) of every price of those products in force on ``on``, any order."""
    if not product_ids:
        return []
    query = (
        select(ProductPrice, Product.sku)
        .join(Product, Product.id == ProductPrice.product_id)
        .where(
            ProductPrice.product_id.in_(product_ids),
            ProductPrice.valid_from <= on,
            or_(ProductPrice.valid_to.is_(None), ProductPrice.valid_to >= on),
        )
    )
    return [(row, str(sku)) for row, sku in session.execute(query)]


def delete_price(session: Session, product_id: int, valid_from: dt.date) -> int:
    result = session.execute(
        delete(ProductPrice).where(
            ProductPrice.product_id == product_id, ProductPrice.valid_from == valid_from
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- plans ------------------------------------------------------------------------------------


def plans_by_code(session: Session, codes: Iterable[str]) -> dict[str, TelecomPlan]:
    wanted = list(set(codes))
    if not wanted:
        return {}
    rows = session.scalars(select(TelecomPlan).where(TelecomPlan.code.in_(wanted)))
    return {row.code: row for row in rows}


def plan_codes_by_id(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(TelecomPlan.id, TelecomPlan.code).where(TelecomPlan.id.in_(wanted))
    )
    return {int(i): str(code) for i, code in rows}


def list_plans(
    session: Session, *, kind: str | None, active: bool | None, offset: int, limit: int
) -> tuple[list[TelecomPlan], int]:
    query = select(TelecomPlan)
    if kind:
        query = query.where(TelecomPlan.kind == kind)
    if active is not None:
        query = query.where(TelecomPlan.active.is_(active))
    rows, total = _page(
        session,
        query.order_by(TelecomPlan.kind, TelecomPlan.monthly_price, TelecomPlan.code),
        offset,
        limit,
    )
    return [row[0] for row in rows], total


# --- promotions -------------------------------------------------------------------------------


def promotion_by_code(session: Session, code: str) -> Promotion | None:
    return session.scalars(select(Promotion).where(Promotion.code == code)).first()


PromotionRow = tuple[Promotion, str | None, str | None]


def promotion_rows(session: Session) -> Select[Any]:
    """Promotions with their product's SKU and their plan's code (outer joins)."""
    query = (
        select(Promotion, Product.sku, TelecomPlan.code)
        .outerjoin(Product, Product.id == Promotion.product_id)
        .outerjoin(TelecomPlan, TelecomPlan.id == Promotion.plan_id)
    )
    return cast(Select[Any], query)


def promotion_with_refs(session: Session, code: str) -> PromotionRow | None:
    row = session.execute(promotion_rows(session).where(Promotion.code == code)).first()
    return None if row is None else (row[0], row[1], row[2])


def list_promotions(
    session: Session,
    *,
    active_on: dt.date | None,
    sku: str | None,
    plan: str | None,
    offset: int,
    limit: int,
) -> tuple[list[PromotionRow], int]:
    query = promotion_rows(session)
    if active_on is not None:
        query = query.where(
            Promotion.active.is_(True),
            Promotion.valid_from <= active_on,
            or_(Promotion.valid_to.is_(None), Promotion.valid_to >= active_on),
        )
    if sku:
        query = query.where(Product.sku == sku)
    if plan:
        query = query.where(TelecomPlan.code == plan)
    return _page(
        session, query.order_by(Promotion.valid_from.desc(), Promotion.code), offset, limit
    )


def delete_promotion(session: Session, code: str) -> int:
    result = session.execute(delete(Promotion).where(Promotion.code == code))
    return int(getattr(result, "rowcount", 0) or 0)


def promotion_periods(
    session: Session, skus: Sequence[str], start: dt.date, end: dt.date
) -> list[tuple[str, dt.date, dt.date | None]]:
    """``(sku, valid_from, valid_to)`` of the active product promotions of ``skus`` that
    overlap ``[start, end]``."""
    query = (
        select(Product.sku, Promotion.valid_from, Promotion.valid_to)
        .join(Product, Product.id == Promotion.product_id)
        .where(
            Product.sku.in_(list(skus)),
            Promotion.active.is_(True),
            Promotion.valid_from <= end,
            or_(Promotion.valid_to.is_(None), Promotion.valid_to >= start),
        )
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]
