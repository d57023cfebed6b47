"""All SQL for locations and products."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.catalog.models import Location, Product


def locations_by_code(session: Session, codes: Iterable[str]) -> dict[str, Location]:
    codes = set(codes)
    if not codes:
        return {}
    rows = session.scalars(select(Location).where(Location.code.in_(codes)))
    return {row.code: row for row in rows}


def products_by_sku(session: Session, skus: Iterable[str]) -> dict[str, Product]:
    skus = set(skus)
    if not skus:
        return {}
    rows = session.scalars(select(Product).where(Product.sku.in_(skus)))
    return {row.sku: row for row in rows}


def id_sku_pairs(
    session: Session, *, skus: Collection[str] | None = None, ids: Collection[int] | None = None
) -> list[tuple[int, str]]:
    """(id, sku) of the products with those SKUs or those ids; of every product without either."""
    query = select(Product.id, Product.sku)
    if skus is not None:
        query = query.where(Product.sku.in_(skus))
    elif ids is not None:
        query = query.where(Product.id.in_(ids))
    return [(product_id, sku) for product_id, sku in session.execute(query)]


def location_codes(session: Session, ids: Collection[int]) -> dict[int, str]:
    """The codes of the locations with these ids (one indexed query)."""
    if not ids:
        return {}
    query = select(Location.id, Location.code).where(Location.id.in_(sorted(ids)))
    return {location_id: code for location_id, code in session.execute(query)}


def all_locations(session: Session, fields: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every location as a plain tuple ``(id, *fields)``, by id: the directory's reload reads
    1,800 of them every TTL in every api process, and ORM objects (or Row attribute lookups)
    cost several times the query."""
    columns = [Location.id, *(getattr(Location, name) for name in fields)]
    return [tuple(row) for row in session.execute(select(*columns).order_by(Location.id))]


def list_locations(
    session: Session, *, kind: str | None, state: str | None, offset: int, limit: int
) -> tuple[Sequence[Location], int]:
    query = select(Location)
    if kind:
        query = query.where(Location.kind == kind)
    if state:
        query = query.where(Location.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Location.code).offset(offset).limit(limit)).all()
    return rows, total


def list_products(
    session: Session, *, q: str | None, category: str | None, offset: int, limit: int
) -> tuple[Sequence[Product], int]:
    query = select(Product)
    if category:
        query = query.where(Product.category == category)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            func.lower(Product.name).like(pattern)
            | func.lower(Product.sku).like(pattern)
            | (Product.ean == q)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Product.sku).offset(offset).limit(limit)).all()
    return rows, total


def product_refs(session: Session, ids: Iterable[int]) -> list[tuple[int, str, str]]:
    """(id, sku, name) of the products with those ids."""
    wanted = list(ids)
    if not wanted:
        return []
    query = select(Product.id, Product.sku, Product.name).where(Product.id.in_(wanted))
    return [(int(i), str(sku), str(name)) for i, sku, name in session.execute(query).all()]
