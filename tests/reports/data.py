"""Hand-built customers and receivables whose report figures are worked out by hand in the
tests (see the comments on each receivable: days past due at 2026-03-31 and 2026-02-15)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from sincro.customers.models import Customer, Receivable
from sincro.db import utcnow

D = dt.date


def customer(
    session: Session, code: str, state: str | None, since: dt.date, **extra: object
) -> Customer:
    row = Customer(
        source="erp",
        external_code=code,
        name=f"Cliente {code}",
        state=state,
        city="Cidade",
        customer_since=since,
        **extra,
    )
    session.add(row)
    session.flush()
    return row


def receivable(
    session: Session,
    code: str,
    owner: Customer | None,
    *,
    issued: dt.date,
    due: dt.date,
    amount: str,
    balance: str | None = None,
    paid: dt.date | None = None,
    status: str | None = None,
) -> None:
    amount_d = Decimal(amount)
    balance_d = Decimal(balance) if balance is not None else (Decimal(0) if paid else amount_d)
    session.add(
        Receivable(
            source="erp",
            external_code=code,
            number=code,
            customer_id=owner.id if owner else None,
            customer_code=owner.external_code if owner else "sumido",
            issued_on=issued,
            due_date=due,
            paid_on=paid,
            status=status or ("paid" if paid else "open"),
            amount=amount_d,
            balance=balance_d,
            updated_at=utcnow(),
        )
    )


def seed(session: Session) -> None:
    c1 = customer(session, "c1", "SP", D(2026, 1, 5))
    c2 = customer(session, "c2", "SP", D(2026, 1, 20))
    c3 = customer(session, "c3", "RJ", D(2026, 2, 3))
    c4 = customer(session, "c4", "MG", D(2026, 2, 10), merged_into_id=c1.id)  # duplicate of c1
    c5 = customer(session, "c5", None, D(2026, 2, 15), erased_at=utcnow())  # erased: UF blanked
    customer(session, "c6", "AM", D(2025, 12, 31))  # before the range
    customer(session, "c7", "RS", D(2026, 3, 1))  # the range's last day
    # code, owner, issued, due, amount[, balance, paid, status]  -- days past due @03-31 / @02-15
    receivable(session, "r1", c1, issued=D(2026, 3, 1), due=D(2026, 3, 30), amount="100")  # 1 / -
    receivable(  # 30 / -; partly paid; belongs to c1 (merged) and to SP (the primary's UF)
        session, "r2", c4, issued=D(2026, 2, 1), due=D(2026, 3, 1), amount="80", balance="50"
    )
    receivable(session, "r3", c3, issued=D(2026, 1, 1), due=D(2026, 1, 30), amount="200")  # 60/16
    receivable(  # 61 / 17: paid after both dates, so open at both
        session, "r4", c3, issued=D(2026, 1, 1), due=D(2026, 1, 29), amount="300",
        paid=D(2026, 4, 10),
    )  # fmt: skip
    receivable(session, "r5", c2, issued=D(2025, 11, 1), due=D(2025, 12, 1), amount="400")  # 120/76
    receivable(session, "r6", c2, issued=D(2026, 3, 1), due=D(2026, 3, 31), amount="999")  # 0 / -
    receivable(  # paid 03-15: open at 02-15 (45 days), not at 03-31
        session, "r7", c2, issued=D(2025, 12, 1), due=D(2026, 1, 1), amount="500",
        paid=D(2026, 3, 15),
    )  # fmt: skip
    receivable(  # cancelled: never counts
        session, "r8", c2, issued=D(2026, 1, 1), due=D(2026, 1, 1), amount="1000",
        status="cancelled",
    )  # fmt: skip
    receivable(session, "r9", None, issued=D(2026, 3, 1), due=D(2026, 3, 20), amount="10")  # 11/-
    receivable(session, "r10", c5, issued=D(2026, 2, 1), due=D(2026, 2, 28), amount="70")  # 31/-
    receivable(  # issued, due and paid in February
        session, "r11", c1, issued=D(2026, 2, 10), due=D(2026, 2, 20), amount="60",
        paid=D(2026, 2, 18),
    )  # fmt: skip
