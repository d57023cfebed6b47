"""Sales history in bulk (a demo's two years, an import from the operator's BI), written
through the caller's raw DBAPI cursor in the caller's transaction: ``executemany`` on SQLite,
``COPY FROM STDIN`` on PostgreSQL. Millions of rows: the ORM would need minutes.

Rows are ``(product_id, location_id | state, day, units, online_units, stockout)`` with ``day``
as ISO text (``2026-12-06``: the caller formats each day once, not once per row); per-location
days go to ``sales_daily``, per-UF days to ``sales_daily_uf``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sincro.db import first_nonempty

TABLES = ("sales_daily", "sales_daily_uf")
_COLUMNS = {
    "sales_daily": "product_id, location_id, day, units, online_units, stockout",
    "sales_daily_uf": "product_id, state, day, units, online_units, stockout",
}
HistoryRow = tuple[Any, Any, str, int, int, bool]


class HistoryLoad:
    """Writes history rows; counts them."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.postgres = not isinstance(cur, sqlite3.Cursor)
        self.rows = 0

    def first_nonempty(self) -> tuple[str, int] | None:
        return first_nonempty(self.cur, TABLES)

    def write(self, table: str, rows: Sequence[HistoryRow]) -> int:
        """Write rows into ``sales_daily`` or ``sales_daily_uf``; returns how many."""
        columns = _COLUMNS[table]
        if self.postgres:
            text = "".join(
                f"{a}\t{b}\t{day}\t{u}\t{o}\t{'t' if s else 'f'}\n" for a, b, day, u, o, s in rows
            )
            with self.cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(text)
        else:
            self.cur.executemany(f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.rows += len(rows)
        return len(rows)
