"""Reads of receivables for billing (dunning, invoices, the Cobrança page): part of the
customers domain's service, in a module of its own. Values, not ORM rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from sincro.customers import reads_repository as repo
from sincro.customers.service import customer_zone


@dataclass(frozen=True, slots=True)
class ReceivableView:
    """A receivable with what a notice to its customer needs. E-mail is personal data."""

    id: int
    number: str
    issued_on: dt.date | None
    due_date: dt.date
    paid_on: dt.date | None
    status: str
    amount: Decimal
    balance: Decimal
    customer_id: int
    customer_name: str
    email: str | None
    state: str | None
    city: str | None
    time_zone: str


def _view(row: Any) -> ReceivableView:
    return ReceivableView(
        id=row.id,
        number=row.number or row.external_code,
        issued_on=row.issued_on,
        due_date=row.due_date,
        paid_on=row.paid_on,
        status=row.status,
        amount=row.amount,
        balance=row.balance,
        customer_id=row.customer_id,
        customer_name=row.name,
        email=row.email,
        state=row.state,
        city=row.city,
        time_zone=customer_zone(row.state, row.city),
    )


def dunning_candidates(
    session: Session,
    *,
    issued: tuple[dt.date, dt.date],
    due: Sequence[tuple[dt.date, dt.date]],
    after_id: int = 0,
    limit: int = 500,
) -> list[ReceivableView]:
    """Open receivables with a balance issued within ``issued`` or due within one of ``due``
    (inclusive date ranges), by id after ``after_id``."""
    rows = repo.dunning_candidates(session, issued=issued, due=due, after_id=after_id, limit=limit)
    return [_view(r) for r in rows]


def receivable(session: Session, receivable_id: int) -> ReceivableView | None:
    """One receivable with its customer, or None (unknown, or no customer linked)."""
    row = repo.receivable_with_customer(session, receivable_id)
    return None if row is None else _view(row)


def receivables_page(
    session: Session, *, status: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[ReceivableView], int]:
    """A page of receivables (latest due first) and the total; ``status`` is open, paid,
    cancelled or overdue."""
    rows, total = repo.receivables_page(session, status=status, offset=offset, limit=limit)
    return [_view(r) for r in rows], total
