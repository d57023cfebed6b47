"""Fixtures of the catalog's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sincro.db import Database


@pytest.fixture
def own_db(migrated_url: str) -> Iterator[Database]:
    """A database of this test's own: the run's shared one holds other tests' documents (and
    its tables were analysed by whichever test came first)."""
    database = Database(migrated_url)
    try:
        yield database
    finally:
        database.dispose()
