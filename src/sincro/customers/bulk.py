"""Customers, consent and receivables in bulk, through the caller's raw DBAPI cursor inside
the caller's transaction (the demo operator: 200,000 customers and their invoices, which the
ORM would need minutes for). The statements live in :mod:`sincro.customers.repository`.

SQLite takes ``executemany`` in large chunks; PostgreSQL ``COPY FROM STDIN``. Customer ids are
given by the caller (the tables must be empty: :meth:`CustomerBulkLoad.first_nonempty`), so
receivables and consent need no look-up, and a record merged into another (same document,
another source) is written already pointing at its primary, as
:func:`sincro.customers.service.merge_duplicates` would leave it.

Use::

    load = CustomerBulkLoad(cur, now)
    if (found := load.first_nonempty()) is not None: ...   # refuse to load over customers
    load.lock()
    load.write_customers(rows)                             # CustomerRow, ids ascending
    load.write_consents(ids, channel="email", purpose="billing", granted=True,
                        source="demo", evidence="demo")
    load.write_receivables(rows)                           # ReceivableRow
    load.finish()                                          # sequences, statistics
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any, NamedTuple

from sincro.customers import repository as repo
from sincro.customers.schemas import CHANNELS, PURPOSES
from sincro.db import first_nonempty

CHUNK_ROWS = 50_000


class CustomerRow(NamedTuple):
    id: int
    source: str
    external_code: str
    name: str
    document: str | None  # digits; check digits already valid
    document_kind: str | None  # cpf | cnpj
    email: str | None  # normalized
    phone: str | None  # digits
    city: str | None
    state: str | None
    birth_date: dt.date | None
    plan: str | None
    customer_since: dt.date | None
    merged_into_id: int | None


class ReceivableRow(NamedTuple):
    source: str
    external_code: str
    number: str
    customer_id: int
    customer_code: str
    issued_on: dt.date
    due_date: dt.date
    paid_on: dt.date | None
    status: str  # open | paid | cancelled
    amount: Decimal
    balance: Decimal


def _chunks(rows: Iterable[Any], size: int = CHUNK_ROWS) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class CustomerBulkLoad:
    """Writes customers, consent and receivables; counts what it wrote."""

    def __init__(self, cur: Any, now: dt.datetime) -> None:
        self.cur = cur
        self.postgres = not isinstance(cur, sqlite3.Cursor)
        self.now = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now
        self.customers = self.consents = self.receivables = 0
        self._days: dict[dt.date, str] = {}

    @property
    def now_text(self) -> str:
        """The format SQLAlchemy's SQLite DateTime stores (and PostgreSQL reads)."""
        return self.now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def first_nonempty(self) -> tuple[str, int] | None:
        """The first customers table that already has rows, with its count (None: all empty)."""
        return first_nonempty(self.cur, repo.BULK_TABLES)

    def lock(self) -> None:
        """PostgreSQL: lock the customers tables until commit (SQLite's ``BEGIN IMMEDIATE``
        already did)."""
        if self.postgres:
            self.cur.execute(repo.BULK_LOCK_SQL)

    def _day(self, value: dt.date | None) -> str | None:
        """A date as SQLite stores it (ISO text); a few hundred distinct days, cached."""
        if value is None:
            return None
        text = self._days.get(value)
        if text is None:
            text = self._days[value] = value.isoformat()
        return text

    def _write(self, table: str, columns: str, rows: Iterable[tuple[Any, ...]]) -> int:
        written = 0
        if self.postgres:
            with self.cur.copy(repo.bulk_copy_sql(table, columns)) as copy:
                for row in rows:
                    copy.write_row(row)
                    written += 1
            return written
        sql = repo.bulk_insert_sql(table, columns)
        for chunk in _chunks(rows):
            self.cur.executemany(sql, chunk)
            written += len(chunk)
        return written

    def write_customers(self, rows: Iterable[CustomerRow]) -> int:
        """Write customers (explicit ids); returns how many."""
        now: Any = self.now if self.postgres else self.now_text
        day = (lambda value: value) if self.postgres else self._day
        written = self._write(
            "customers",
            repo.BULK_CUSTOMER_COLUMNS,
            (
                (
                    *r[:10],
                    day(r.birth_date),
                    r.plan,
                    day(r.customer_since),
                    r.merged_into_id,
                    now,
                    now,
                )
                for r in rows
            ),
        )
        self.customers += written
        return written

    def write_receivables(self, rows: Iterable[ReceivableRow]) -> int:
        """Write receivables of customers already written; returns how many."""
        now: Any = self.now if self.postgres else self.now_text
        if self.postgres:
            prepared: Iterable[tuple[Any, ...]] = ((*r, now) for r in rows)
        else:
            day = self._day
            prepared = (
                (
                    *r[:5],
                    day(r.issued_on),
                    day(r.due_date),
                    day(r.paid_on),
                    r.status,
                    str(r.amount),
                    str(r.balance),
                    now,
                )
                for r in rows
            )
        written = self._write("receivables", repo.BULK_RECEIVABLE_COLUMNS, prepared)
        self.receivables += written
        return written

    def write_consents(
        self,
        customer_ids: Iterable[int],
        *,
        channel: str,
        purpose: str,
        granted: bool,
        source: str,
        evidence: str,
    ) -> int:
        """Consent of many customers for one channel and purpose, with its evidence (the
        current state and one history row each); returns how many customers."""
        if channel not in CHANNELS or purpose not in PURPOSES:
            raise ValueError(f"unknown channel or purpose: {channel!r}, {purpose!r}")
        ids = list(customer_ids)
        now: Any = self.now if self.postgres else self.now_text
        flag: Any = granted if self.postgres else int(granted)
        self._write(
            "customer_consents",
            repo.BULK_CONSENT_COLUMNS,
            ((i, channel, purpose, flag, now) for i in ids),
        )
        self._write(
            "customer_consent_events",
            repo.BULK_CONSENT_EVENT_COLUMNS,
            ((i, channel, purpose, flag, source[:40], evidence[:300], now) for i in ids),
        )
        self.consents += len(ids)
        return len(ids)

    def finish(self) -> None:
        """PostgreSQL: move the id sequence past the ids written; fresh planner statistics."""
        if self.postgres:
            self.cur.execute(repo.BULK_CUSTOMER_SEQUENCE_SQL)
            self.cur.execute(repo.BULK_ANALYZE_SQL)
