"""Migration 0002 (feed_cursors) applies and reverts on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from sincro.db import postgres_url
from sincro.migrate import downgrade, upgrade
from tests.services import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (not the session's, which is already at head)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def tables(url: str) -> set[str]:
    engine = create_engine(postgres_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_feed_cursors_migration_up_and_down(fresh_url: str) -> None:
    upgrade(fresh_url, "0001")
    assert "feed_cursors" not in tables(fresh_url)
    upgrade(fresh_url)
    assert "feed_cursors" in tables(fresh_url)
    engine = create_engine(postgres_url(fresh_url))
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO feed_cursors (name, seq, updated_at) VALUES ('relay:x', :s, :t)"),
            {"s": 2**40, "t": "2026-11-23 10:00:00"},
        )
        assert conn.scalar(text("SELECT seq FROM feed_cursors")) == 2**40
    engine.dispose()
    downgrade(fresh_url, "0001")
    assert "feed_cursors" not in tables(fresh_url)
    upgrade(fresh_url)
    assert "feed_cursors" in tables(fresh_url)
