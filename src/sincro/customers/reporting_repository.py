"""All SQL of the consolidated reports (new customers, defaulters, billing).

Every query groups on plain dates (``customer_since``, ``issued_on``, ``paid_on``) or on
conditions against date parameters, never on a dialect's date functions: days come back from
the database and are folded into weeks and months in Python (:mod:`sincro.customers.reporting`),
so SQLite and PostgreSQL give the same rows. The number of rows returned is bounded by the
days in the range times the UFs (27), whatever the number of customers or receivables.

A customer is counted once, at its primary record: a merged record's receivables belong to
``COALESCE(merged_into_id, id)`` and its UF is the primary's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session, aliased

from sincro.customers.models import Customer, Receivable

ZERO = Decimal("0")


def new_customers_by_day(
    session: Session, start: dt.date, end: dt.date
) -> list[tuple[dt.date, str | None, int]]:
    """(day, UF, primaries whose ``customer_since`` is that day), for ``start`` ≤ day ≤
    ``end``. Erased customers still count (the row says nothing about who they were)."""
    rows = session.execute(
        select(Customer.customer_since, Customer.state, func.count())
        .where(
            Customer.merged_into_id.is_(None),
            Customer.customer_since >= start,
            Customer.customer_since <= end,
        )
        .group_by(Customer.customer_since, Customer.state)
    )
    return [(day, state, int(count)) for day, state, count in rows if day is not None]


def _owner() -> tuple[Any, Any, Any]:
    """(receivables joined to their customer and its primary, primary id, UF)."""
    record = aliased(Customer, name="record")
    primary = aliased(Customer, name="primary_record")
    joined = Receivable.__table__.outerjoin(record, record.id == Receivable.customer_id).outerjoin(
        primary, primary.id == record.merged_into_id
    )
    owner_id = func.coalesce(record.merged_into_id, record.id)
    state = func.coalesce(primary.state, record.state)
    return joined, owner_id, state


def open_on(as_of: dt.date) -> Any:
    """A receivable was open at the end of ``as_of`` when it was issued by then, not
    cancelled, and either paid only later or still open with a balance today."""
    return and_(
        Receivable.status != "cancelled",
        or_(Receivable.issued_on.is_(None), Receivable.issued_on <= as_of),
        or_(
            Receivable.paid_on > as_of,
            and_(Receivable.paid_on.is_(None), Receivable.status == "open", Receivable.balance > 0),
        ),
    )


def open_amount() -> Any:
    """What was owed on an open receivable: the balance while unpaid; the whole amount, for
    one paid after the date asked (it was all owed then)."""
    return case((Receivable.paid_on.is_(None), Receivable.balance), else_=Receivable.amount)


AGING_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 30), (31, 60), (61, 90), (91, None))


def defaulters_by_state(session: Session, as_of: dt.date, grace_days: int) -> list[dict[str, Any]]:
    """Per UF, overdue receivables at the end of ``as_of`` in the aging buckets (days past
    due 1–30, 31–60, 61–90, 90+): titles, customers and amount per bucket; customers with
    anything overdue; defaulters (customers with a title overdue more than ``grace_days``).
    One scan, conditional aggregates."""
    joined, owner_id, state = _owner()
    amount = open_amount()
    columns: list[Any] = [state.label("state")]
    for index, (low, high) in enumerate(AGING_BUCKETS):
        latest_due = as_of - dt.timedelta(days=low)  # due on or before this day
        condition = Receivable.due_date <= latest_due
        if high is not None:
            condition = and_(condition, Receivable.due_date >= as_of - dt.timedelta(days=high))
        columns += [
            func.count(case((condition, 1))).label(f"titles_{index}"),
            func.count(distinct(case((condition, owner_id)))).label(f"customers_{index}"),
            func.coalesce(func.sum(case((condition, amount))), ZERO).label(f"amount_{index}"),
        ]
    grace_cut = as_of - dt.timedelta(days=grace_days + 1)
    columns += [
        func.count(distinct(owner_id)).label("customers"),
        func.count(distinct(case((Receivable.due_date <= grace_cut, owner_id)))).label(
            "defaulters"
        ),
    ]
    query = (
        select(*columns)
        .select_from(joined)
        .where(Receivable.due_date < as_of, open_on(as_of))
        .group_by(state)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def invoiced_by_day(
    session: Session, start: dt.date, end: dt.date
) -> list[tuple[dt.date, int, Decimal]]:
    """(day, titles, amount) issued each day (cancelled titles left out)."""
    rows = session.execute(
        select(Receivable.issued_on, func.count(), func.sum(Receivable.amount))
        .where(
            Receivable.issued_on >= start,
            Receivable.issued_on <= end,
            Receivable.status != "cancelled",
        )
        .group_by(Receivable.issued_on)
    )
    return [(day, int(n), Decimal(total or 0)) for day, n, total in rows if day is not None]


def received_by_day(
    session: Session, start: dt.date, end: dt.date
) -> list[tuple[dt.date, int, Decimal]]:
    """(day, titles, amount received: amount minus what is left) paid each day."""
    rows = session.execute(
        select(Receivable.paid_on, func.count(), func.sum(Receivable.amount - Receivable.balance))
        .where(
            Receivable.paid_on >= start,
            Receivable.paid_on <= end,
            Receivable.status != "cancelled",
        )
        .group_by(Receivable.paid_on)
    )
    return [(day, int(n), Decimal(total or 0)) for day, n, total in rows if day is not None]


def open_receivables(session: Session, as_of: dt.date) -> dict[str, Any]:
    """Receivables open at the end of ``as_of``: count and amount, and those overdue then."""
    amount = open_amount()
    overdue = Receivable.due_date < as_of
    row = session.execute(
        select(
            func.count().label("open_count"),
            func.coalesce(func.sum(amount), ZERO).label("open_amount"),
            func.count(case((overdue, 1))).label("overdue_count"),
            func.coalesce(func.sum(case((overdue, amount))), ZERO).label("overdue_amount"),
        ).where(open_on(as_of))
    ).one()
    return dict(row._mapping)
