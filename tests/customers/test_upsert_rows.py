"""Customer and receivable upserts of an ERP page: one array statement on PostgreSQL
(``db.upsert_rows``), executemany on SQLite; the same rows either way."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from sincro.customers import repository as repo
from sincro.customers.models import Customer, Receivable
from sincro.db import Database

SAO_PAULO = dt.timezone(dt.timedelta(hours=-3))


def customer(code: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "erp",
        "external_code": code,
        "name": f"Cliente {code}",
        "document": None,
        "document_kind": None,
        "email": None,
        "phone": None,
        "city": None,
        "state": None,
        "birth_date": None,
        "plan": None,
        "customer_since": dt.date(2025, 3, 1),
        "erp_updated_at": dt.datetime(2026, 1, 2, 9, 0, tzinfo=SAO_PAULO),
        "created_at": dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC),
    }
    row.update(overrides)
    return row


def test_a_page_of_customers_is_inserted_then_updated_last_row_winning(db: Database) -> None:
    with db.write() as session:
        repo.upsert(session, Customer, [customer("1"), customer("2", city="Recife")])
    with db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.external_code == "2")
            .values(erased_at=dt.datetime(2026, 1, 3, tzinfo=dt.UTC), name="(apagado)")
        )
    page = [
        customer("1", name="Primeira versão"),
        customer("3", email="c@exemplo.com.br", state="PE"),
        customer("1", name="Segunda versão", birth_date=dt.date(1990, 5, 17)),  # wins
        customer("2", name="Volta do ERP"),  # erased (LGPD): never updated again
    ]
    with db.write() as session:
        repo.upsert(session, Customer, page)
    with db.read() as session:
        rows = {
            c.external_code: (c.name, c.birth_date, c.email, c.state, c.city, c.erp_updated_at)
            for c in session.scalars(select(Customer))
        }
    noon_utc = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)  # 09:00 in São Paulo
    assert rows == {
        "1": ("Segunda versão", dt.date(1990, 5, 17), None, None, None, noon_utc),
        "2": ("(apagado)", None, None, None, "Recife", noon_utc),
        "3": ("Cliente 3", None, "c@exemplo.com.br", "PE", None, noon_utc),
    }


def test_receivables_keep_money_dates_and_nulls(db: Database) -> None:
    def receivable(code: str, balance: str, paid: dt.date | None) -> dict[str, Any]:
        return {
            "source": "erp",
            "external_code": code,
            "customer_id": None,
            "customer_code": "000001-01",
            "number": code,
            "issued_on": dt.date(2026, 1, 1),
            "due_date": dt.date(2026, 1, 31),
            "paid_on": paid,
            "status": "paid" if paid else "open",
            "amount": Decimal("1234.56"),
            "balance": Decimal(balance),
            "erp_updated_at": None,
            "updated_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        }

    with db.write() as session:
        repo.upsert(session, Receivable, [receivable("A", "1234.56", None)])
        repo.upsert(
            session,
            Receivable,
            [receivable("A", "0.00", dt.date(2026, 1, 20)), receivable("B", "10.01", None)],
        )
    with db.read() as session:
        rows = {
            r.external_code: (r.balance, r.paid_on, r.status, r.erp_updated_at)
            for r in session.scalars(select(Receivable))
        }
    assert rows == {
        "A": (Decimal("0.00"), dt.date(2026, 1, 20), "paid", None),
        "B": (Decimal("10.01"), None, "open", None),
    }
