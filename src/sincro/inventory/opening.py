"""Opening stock in bulk: a stock level for every product at many locations and the opening
ledger, written through the caller's raw DBAPI cursor inside the caller's transaction (the
demo operator: 1.8 million levels, which the ORM would need minutes for).

SQLite takes ``executemany`` per block; PostgreSQL one ``COPY FROM STDIN`` of hand-assembled
text for all blocks, with the tables' foreign keys, unique constraints and secondary indexes
dropped for the load and re-created once after it (inside the transaction: a failure restores
them). Every level with ``on_hand > 0`` gets one ``movements`` row (bucket ``on_hand``, reason
``opening``) with ``erp_known_at`` = the load time (the opening stock is what the ERPs already
know), so levels reconcile with the ledger. The opening load writes no events.

Use::

    opening = OpeningStock(cur, now)
    if (found := opening.first_nonempty()) is not None: ...  # refuse to load over stock
    opening.lock()                       # PostgreSQL: EXCLUSIVE locks until commit
    with opening.writing_levels():
        for block in blocks:             # each: (location id, product ids, [(on_hand, safety)])
            opening.write_levels(block)
    with opening.writing_ledger():
        for lo, hi in location_id_ranges:
            opening.write_ledger(lo, hi)
    opening.analyze()
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sincro.db import first_nonempty
from sincro.inventory.models import Bucket, Reason

TABLES = ("stock_levels", "movements")
# One location's opening stock: its id, the product ids, (on_hand, safety_stock) per product.
LocationStock = tuple[int, Sequence[int], Sequence[tuple[int, int]]]

_LEVEL_COLUMNS = (
    "product_id, location_id, on_hand, reserved, blocked_quality, blocked_stock,"
    " blocked_returns, safety_stock, version, as_of, updated_at"
)
_LEDGER_SQL = (
    "INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,"
    " idempotency_key, reference, occurred_at, recorded_at, erp_known_at)"
    f" SELECT product_id, location_id, '{Bucket.on_hand.value}', on_hand,"
    f" '{Reason.opening.value}', {{p}}, NULL, NULL, {{p}}, {{p}}, {{p}}"
    " FROM stock_levels WHERE location_id >= {p} AND location_id <= {p} AND on_hand > 0"
    " ORDER BY location_id, product_id"
)


class OpeningStock:
    """Writes opening stock levels and their ledger rows; counts what it wrote."""

    def __init__(self, cur: Any, now: dt.datetime, source: str = "demo") -> None:
        self.cur = cur
        self.postgres = not isinstance(cur, sqlite3.Cursor)
        self.now = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now
        self.source = source
        self.levels = 0
        self.stocked = 0  # levels with units on hand: one ledger row each
        self.units = 0
        self._copy: Any = None

    @property
    def now_text(self) -> str:
        """The format SQLAlchemy's SQLite DateTime stores (and PostgreSQL reads)."""
        return self.now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def first_nonempty(self) -> tuple[str, int] | None:
        """The first stock table that already has rows, with its count (None: all empty)."""
        return first_nonempty(self.cur, TABLES)

    def lock(self) -> None:
        """PostgreSQL: lock the stock tables until commit (readers may go on; a second loader
        waits, then finds them non-empty). SQLite's ``BEGIN IMMEDIATE`` already did."""
        if self.postgres:
            self.cur.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")

    @contextmanager
    def writing_levels(self) -> Iterator[None]:
        """The span in which :meth:`write_levels` may be called."""
        if not self.postgres:
            yield
            return
        deferred = _defer_constraints(self.cur, "stock_levels")
        with self.cur.copy(f"COPY stock_levels ({_LEVEL_COLUMNS}) FROM STDIN") as copy:
            self._copy = copy
            try:
                yield
            finally:
                self._copy = None
        _restore_constraints(self.cur, deferred)  # the ledger pass reads by location

    def write_levels(self, block: Iterable[LocationStock]) -> int:
        """Write the levels of a block of locations; returns how many."""
        before = self.levels
        if self.postgres:
            self._copy_levels(block)
        else:
            self._insert_levels(block)
        return self.levels - before

    def _insert_levels(self, block: Iterable[LocationStock]) -> None:
        now = self.now_text
        rows: list[tuple[int, int, int, int, str, str]] = []
        for location_id, product_ids, quantities in block:
            for product_id, (on_hand, safety) in zip(product_ids, quantities, strict=True):
                rows.append((product_id, location_id, on_hand, safety, now, now))
                if on_hand:
                    self.stocked += 1
                    self.units += on_hand
        self.cur.executemany(
            f"INSERT INTO stock_levels ({_LEVEL_COLUMNS}) VALUES (?, ?, ?, 0, 0, 0, 0, ?, 1, ?, ?)",
            rows,
        )
        self.levels += len(rows)

    def _copy_levels(self, block: Iterable[LocationStock]) -> None:
        assert self._copy is not None, "write_levels outside writing_levels()"
        # COPY text format, assembled by hand: much faster than adapting 1.8M rows one by one.
        tail = f"\t1\t{self.now_text}\t{self.now_text}\n"
        lines: list[str] = []
        for location_id, product_ids, quantities in block:
            middle = f"\t{location_id}\t"
            for product_id, (on_hand, safety) in zip(product_ids, quantities, strict=True):
                lines.append(f"{product_id}{middle}{on_hand}\t0\t0\t0\t0\t{safety}{tail}")
                if on_hand:
                    self.stocked += 1
                    self.units += on_hand
        self._copy.write("".join(lines))
        self.levels += len(lines)

    @contextmanager
    def writing_ledger(self) -> Iterator[None]:
        """The span in which :meth:`write_ledger` may be called."""
        deferred = _defer_constraints(self.cur, "movements") if self.postgres else []
        yield
        _restore_constraints(self.cur, deferred)

    def write_ledger(self, lo: int, hi: int) -> int:
        """The opening ledger rows of the stocked levels at location ids ``lo..hi``
        (inclusive); returns how many."""
        mark = "%s" if self.postgres else "?"
        now: Any = self.now if self.postgres else self.now_text
        self.cur.execute(_LEDGER_SQL.format(p=mark), (self.source, now, now, now, lo, hi))
        return int(self.cur.rowcount)

    def analyze(self) -> None:
        """PostgreSQL: fresh planner statistics for the loaded tables."""
        if self.postgres:
            self.cur.execute(f"ANALYZE {', '.join(TABLES)}")


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A foreign key, unique constraint or index dropped for the load and re-created after."""

    drop: str
    create: str


def _defer_constraints(cur: Any, table: str) -> list[_Deferred]:
    """Drop ``table``'s foreign keys, unique constraints and secondary indexes (not its primary
    key) and return how to re-create them. Building an index once after the load is several
    times faster than maintaining it row by row; checking a foreign key once after the load is
    one join instead of two look-ups per row. Inside the load's transaction, so a failure
    restores everything. Without the privilege to alter the table, nothing is dropped."""
    from psycopg import errors, sql

    conn = cur.connection
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
        (table,),
    )
    deferred = [
        _Deferred(
            drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}")
            .format(sql.Identifier(table), sql.Identifier(name))
            .as_string(conn),
            create=sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}")
            .format(sql.Identifier(table), sql.Identifier(name), sql.SQL(definition))
            .as_string(conn),
        )
        for name, definition in cur.fetchall()
    ]
    cur.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
        " WHERE indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY 1",
        (table,),
    )
    deferred += [
        _Deferred(drop=f"DROP INDEX {name}", create=definition)
        for name, definition in cur.fetchall()
    ]
    try:
        with conn.transaction():  # a savepoint
            for item in deferred:
                cur.execute(item.drop)
    except errors.InsufficientPrivilege:
        return []  # not the owner: load with the constraints in place (slower, same result)
    return deferred


def _restore_constraints(cur: Any, deferred: list[_Deferred]) -> None:
    # Indexes first (unique and plain), then foreign keys.
    for item in sorted(deferred, key=lambda d: "FOREIGN KEY" in d.create):
        cur.execute(item.create)
