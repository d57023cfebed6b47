"""All SQL for customers and receivables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.customers.models import Customer, Receivable


def customers_by_code(session: Session, source: str, codes: Iterable[str]) -> dict[str, Customer]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.scalars(
        select(Customer).where(Customer.source == source, Customer.external_code.in_(codes))
    )
    return {c.external_code: c for c in rows}


def customer_ids_by_code(session: Session, source: str, codes: Iterable[str]) -> dict[str, int]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.execute(
        select(Customer.external_code, Customer.id).where(
            Customer.source == source, Customer.external_code.in_(codes)
        )
    )
    return {code: id_ for code, id_ in rows}


def receivables_by_code(
    session: Session, source: str, codes: Iterable[str]
) -> dict[str, Receivable]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.scalars(
        select(Receivable).where(Receivable.source == source, Receivable.external_code.in_(codes))
    )
    return {r.external_code: r for r in rows}


def link_orphan_receivables(session: Session, source: str) -> int:
    """Point receivables that arrived before their customer at it (same source and code)."""
    customer_id = (
        select(Customer.id)
        .where(Customer.source == source, Customer.external_code == Receivable.customer_code)
        .scalar_subquery()
    )
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Receivable)
        .where(Receivable.source == source, Receivable.customer_id.is_(None))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def upsert(
    session: Session, model: type[Customer] | type[Receivable], rows: list[dict[str, Any]]
) -> None:
    """Insert or update rows keyed by (source, external_code) in one statement."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model)
    columns = [c for c in rows[0] if c not in ("source", "external_code", "created_at")]
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "external_code"],
            set_={c: getattr(stmt.excluded, c) for c in columns},
        ),
        rows,
    )
