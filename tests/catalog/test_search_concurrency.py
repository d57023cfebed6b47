"""Concurrent indexing (a products sync and a documents sync at once) must not deadlock.

Every indexing transaction adds words to one shared vocabulary and bumps one shared
generation row. The interleaving below deadlocked when each index call took those rows at
once: A adds "zunzum" and bumps the generation; B adds "abacaxi" and waits for the generation;
A then adds "abacaxi" and waits for B. Now both are taken once, last, just before commit.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from sincro.catalog import search
from sincro.catalog.models import Product
from sincro.db import Database
from tests.factories import make_product


@pytest.fixture
def pg(pg_db: Database) -> Database:
    with pg_db.write() as s:
        s.execute(
            text(
                "INSERT INTO search_meta (key, value) VALUES ('generation', 0)"
                " ON CONFLICT (key) DO NOTHING"
            )
        )
        for sku, name in [("C-1", "Zunzum"), ("C-2", "Abacaxi"), ("C-3", "Abacaxi zunzum")]:
            make_product(s, sku=sku, name=name)
    return pg_db


def _ids(db: Database) -> dict[str, int]:
    with db.read() as s:
        return dict(s.execute(select(Product.sku, Product.id)).tuples().all())


def _generation(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(text("SELECT value FROM search_meta WHERE key = 'generation'")))


def test_interleaved_indexing_does_not_deadlock(pg: Database) -> None:
    ids = _ids(pg)
    before = _generation(pg)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with pg.write() as s:
                s.execute(text("SET LOCAL lock_timeout = '5s'"))
                search.index_products(s, [ids["C-2"]])
        except BaseException as exc:
            errors.append(exc)

    with pg.write() as s:
        s.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
        search.index_products(s, [ids["C-1"]])
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)  # B must be able to finish while A is still open
        assert not thread.is_alive(), "the other indexing transaction waited for this one"
        search.index_products(s, [ids["C-3"]])
    assert errors == []
    with pg.read() as s:
        words = set(s.scalars(text("SELECT word FROM search_terms")))
        assert {"zunzum", "abacaxi"} <= words
    assert _generation(pg) == before + 2  # one bump per transaction
    assert [h.sku for h in search.search(pg, "abacaxi", limit=10).hits] != []
