"""A first bulk load of documents gives PostgreSQL statistics before the page's lookup: a
table never analysed is planned from defaults, which sent the documents sync's "which versions
exist" lookup through every earlier row (quadratic over a full sync; docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.db import Database

RELTUPLES = text("SELECT reltuples FROM pg_class WHERE relname = 'product_documents'")


def page(start: int, count: int) -> list[DocumentIn]:
    return [
        DocumentIn(external_id=f"DOC-{i:05d}", title=f"Manual {i}", body=f"garantia {i} " * 5)
        for i in range(start, start + count)
    ]


def analyses(db: Database, pages: list[list[DocumentIn]]) -> int:
    """How many ANALYZE statements applying ``pages`` (one transaction each) sent."""
    sent: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("ANALYZE"):
            sent.append(statement)

    event.listen(db.write_engine, "before_cursor_execute", keep)
    try:
        for documents in pages:
            with db.write() as session:
                apply_documents(session, "docs", documents)
    finally:
        event.remove(db.write_engine, "before_cursor_execute", keep)
    return len(sent)


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_the_first_page_analyses_the_table_once(own_db: Database) -> None:
    db = own_db
    with db.read() as session:
        assert session.scalar(RELTUPLES) < 0  # a new database: never analysed
    assert analyses(db, [page(0, 200), page(200, 200), page(400, 200)]) == 1
    with db.read() as session:
        assert session.scalar(RELTUPLES) >= 200  # the first page's rows, counted at once
        stats = session.execute(
            text(
                "SELECT n_distinct FROM pg_stats WHERE tablename = 'product_documents'"
                " AND attname = 'external_id'"
            )
        ).scalar_one()
    # keys nearly unique, as a fraction of the table: the estimate follows its growth
    assert stats < 0


@pytest.mark.parametrize("migrated_url", ["sqlite"], indirect=True)
def test_sqlite_needs_no_statistics(own_db: Database) -> None:
    assert analyses(own_db, [page(0, 50)]) == 0
