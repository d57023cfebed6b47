"""SQL for the reads other domains make of customers and receivables (billing's dunning and
invoices, the wish list's customer lookup), apart from ``repository.py`` so the customers
foundation and these reads grow without touching each other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from sincro.customers.models import Customer, Receivable

DateRange = tuple[dt.date, dt.date]
# A receivable of a merged duplicate belongs to its primary record (consent, address, zone).
Holder = aliased(Customer)
Primary = aliased(Customer)
_ON_PRIMARY = Primary.id == func.coalesce(Holder.merged_into_id, Holder.id)

_COLUMNS = (
    Receivable.id,
    Receivable.number,
    Receivable.external_code,
    Receivable.issued_on,
    Receivable.due_date,
    Receivable.paid_on,
    Receivable.status,
    Receivable.amount,
    Receivable.balance,
    Primary.id.label("customer_id"),
    Primary.name,
    Primary.email,
    Primary.state,
    Primary.city,
)


def _with_customer(query: Any) -> Any:
    return query.join(Holder, Holder.id == Receivable.customer_id).join(Primary, _ON_PRIMARY)


def dunning_candidates(
    session: Session,
    *,
    issued: DateRange,
    due: Sequence[DateRange],
    after_id: int,
    limit: int,
) -> list[Any]:
    """Open receivables with a balance, of a customer not erased, issued in ``issued`` or due
    in one of ``due`` (inclusive ranges); keyset page by receivable id."""
    windows: list[ColumnElement[bool]] = [Receivable.issued_on.between(*issued)]
    windows += [Receivable.due_date.between(low, high) for low, high in due]
    query = (
        _with_customer(select(*_COLUMNS))
        .where(
            Receivable.status == "open",
            Receivable.balance > 0,
            Primary.erased_at.is_(None),
            Receivable.id > after_id,
            or_(*windows),
        )
        .order_by(Receivable.id)
        .limit(limit)
    )
    return list(session.execute(query))


def receivable_with_customer(session: Session, receivable_id: int) -> Any:
    query = _with_customer(select(*_COLUMNS)).where(Receivable.id == receivable_id)
    return session.execute(query).first()


def receivables_page(
    session: Session, *, status: str | None, offset: int, limit: int
) -> tuple[list[Any], int]:
    """Receivables of known customers, latest due first, with a total."""
    where: list[ColumnElement[bool]] = [Receivable.customer_id.is_not(None)]
    if status == "overdue":
        where += [
            Receivable.status == "open",
            Receivable.balance > 0,
            Receivable.due_date < dt.date.today(),
        ]
    elif status:
        where.append(Receivable.status == status)
    query = _with_customer(select(*_COLUMNS)).where(and_(*where))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Receivable.due_date.desc(), Receivable.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), int(total)


def _contact_by(holder_column: Any, value: Any) -> Any:
    query = select(Primary.id, Primary.name, Primary.email, Primary.state, Primary.city)
    query = query.select_from(Holder).join(Primary, _ON_PRIMARY)
    query = query.where(Primary.erased_at.is_(None), holder_column == value)
    return query.order_by(Holder.merged_into_id.is_not(None), Holder.id).limit(1)


# built once: an identified chat customer's every answer may ask (a build cost ~0.2 ms)
_CONTACT_BY_ID = _contact_by(Holder.id, bindparam("customer_id", type_=Integer))
_CONTACT_BY_EMAIL = _contact_by(Holder.email, bindparam("email"))


def customer_contact(
    session: Session, *, customer_id: int | None = None, email: str | None = None
) -> Any:
    """The primary record (not erased) of a customer found by id or by (normalized) e-mail: a
    merged duplicate's id or address leads to the record it was merged into."""
    if customer_id is not None:
        return session.execute(_CONTACT_BY_ID, {"customer_id": customer_id}).first()
    if email:
        return session.execute(_CONTACT_BY_EMAIL, {"email": email}).first()
    return None


def customer_names(session: Session, customer_ids: Sequence[int]) -> dict[int, str]:
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
    return {customer_id: name for customer_id, name in rows}
