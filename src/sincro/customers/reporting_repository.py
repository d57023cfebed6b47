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

from sqlalchemy import and_, case, distinct, func, or_, select, union_all
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


def open_titles(as_of: dt.date) -> Any:
    """Receivables open at the end of ``as_of`` (customer_id, due_date, owed), as a subquery.

    A title was open then when it was issued by then, is not cancelled, and either is still
    unpaid with a balance (it owes its balance) or was paid only after ``as_of`` (it owed its
    whole amount then). The two cases are two branches of a ``UNION ALL`` so that each reads
    through the ``paid_on`` index (``IS NULL``; ``> as_of``) instead of every past-due row:
    on a receivables table where most titles are paid that is the difference between reading
    the open few and reading them all. No condition on ``due_date`` here (callers filter with
    ``CASE``): given one, SQLite's planner reads the due-date index instead."""
    common = [
        Receivable.status != "cancelled",
        or_(Receivable.issued_on.is_(None), Receivable.issued_on <= as_of),
    ]
    columns = (Receivable.customer_id, Receivable.due_date)
    unpaid = select(*columns, Receivable.balance.label("owed")).where(
        Receivable.paid_on.is_(None),
        Receivable.status == "open",
        Receivable.balance > 0,
        *common,
    )
    paid_later = select(*columns, Receivable.amount.label("owed")).where(
        Receivable.paid_on > as_of, *common
    )
    return union_all(unpaid, paid_later).subquery("open_titles")


AGING_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 30), (31, 60), (61, 90), (91, None))


def defaulters_by_state(session: Session, as_of: dt.date, grace_days: int) -> list[dict[str, Any]]:
    """Per UF, receivables overdue at the end of ``as_of`` in the aging buckets (days past
    due 1–30, 31–60, 61–90, 90+): titles, customers and amount per bucket; customers with
    anything overdue; defaulters (customers with a title overdue more than ``grace_days``).
    One pass over the open titles, conditional aggregates; UFs whose open titles are all
    still within their due date come back with zeros."""
    titles = open_titles(as_of)
    record = aliased(Customer, name="record")
    primary = aliased(Customer, name="primary_record")
    owner_id = func.coalesce(record.merged_into_id, record.id)
    state = func.coalesce(primary.state, record.state)
    columns: list[Any] = [state.label("state")]
    for index, (low, high) in enumerate(AGING_BUCKETS):
        condition = titles.c.due_date <= as_of - dt.timedelta(days=low)
        if high is not None:
            condition = and_(condition, titles.c.due_date >= as_of - dt.timedelta(days=high))
        columns += [
            func.count(case((condition, 1))).label(f"titles_{index}"),
            func.count(distinct(case((condition, owner_id)))).label(f"customers_{index}"),
            func.coalesce(func.sum(case((condition, titles.c.owed))), ZERO).label(
                f"amount_{index}"
            ),
        ]
    grace_cut = as_of - dt.timedelta(days=grace_days + 1)
    columns += [
        func.count(distinct(case((titles.c.due_date < as_of, owner_id)))).label("customers"),
        func.count(distinct(case((titles.c.due_date <= grace_cut, owner_id)))).label("defaulters"),
    ]
    query = (
        select(*columns)
        .select_from(titles)
        .outerjoin(record, record.id == titles.c.customer_id)
        .outerjoin(primary, primary.id == record.merged_into_id)
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
    titles = open_titles(as_of)
    overdue = titles.c.due_date < as_of
    row = session.execute(
        select(
            func.count().label("open_count"),
            func.coalesce(func.sum(titles.c.owed), ZERO).label("open_amount"),
            func.count(case((overdue, 1))).label("overdue_count"),
            func.coalesce(func.sum(case((overdue, titles.c.owed))), ZERO).label("overdue_amount"),
        ).select_from(titles)
    ).one()
    return dict(row._mapping)
