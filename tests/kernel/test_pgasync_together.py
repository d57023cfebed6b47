"""``AsyncPool.fetch_together``: statements of different queries, interleaved, each get their
own first row, in order, committed together; one that fails keeps none of them; and the
connection's cursors are reused by the batches after (a new cursor per statement cost more
than the statement's client work)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from sincro import pgasync
from sincro.db import Timeouts

TIMEOUTS = Timeouts(connect=2.0, statement=5.0)
TABLE = "pgasync_together_test"
INSERT = f"INSERT INTO {TABLE} (n) VALUES (%(n)s) RETURNING n, 'insert'".encode()
TWICE = "SELECT %(n)s::int * 2, 'twice'"  # a str query among bytes ones
CHECKED = f"INSERT INTO {TABLE} (n) SELECT 1 / %(n)s RETURNING n"  # 1 / 0 fails


@pytest.fixture
def table(postgres_url: str) -> Any:
    with psycopg.connect(pgasync.conninfo(postgres_url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (n int)")
    yield
    with psycopg.connect(pgasync.conninfo(postgres_url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _kept(url: str) -> list[int]:
    with psycopg.connect(pgasync.conninfo(url), autocommit=True) as conn:
        return [n for (n,) in conn.execute(f"SELECT n FROM {TABLE} ORDER BY n").fetchall()]


def test_interleaved_queries_answer_in_order_and_commit_together(
    postgres_url: str, table: None
) -> None:
    statements: list[tuple[str | bytes, dict[str, Any]]] = [
        (INSERT, {"n": 1}),
        (INSERT, {"n": 2}),
        (TWICE, {"n": 3}),
        (INSERT, {"n": 4}),
        (TWICE, {"n": 5}),
        (TWICE, {"n": 6}),
    ]

    async def work() -> tuple[list[Any], list[Any]]:
        pool = pgasync.AsyncPool(postgres_url, TIMEOUTS, size=1)
        first = await pool.fetch_together(statements)
        pooled = pool._idle[0]
        made = list(pooled.batch)
        assert len(made) == 4  # a cursor per run of one query: I I | T | I | T T
        second = await pool.fetch_together(statements[:2])
        assert pool._idle[0] is pooled and pooled.batch == made  # no new cursor
        await pool.close()
        return first, second

    first, second = asyncio.run(work())
    assert first == [
        (1, "insert"),
        (2, "insert"),
        (6, "twice"),
        (4, "insert"),
        (10, "twice"),
        (12, "twice"),
    ]
    assert second == [(1, "insert"), (2, "insert")]
    assert _kept(postgres_url) == [1, 1, 2, 2, 4]


def test_a_failing_statement_keeps_none_of_the_batch(postgres_url: str, table: None) -> None:
    async def work() -> None:
        pool = pgasync.AsyncPool(postgres_url, TIMEOUTS, size=1)
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await pool.fetch_together([(INSERT, {"n": 1}), (CHECKED, {"n": 0}), (INSERT, {"n": 2})])
        assert not caught.value.connection_invalidated
        # the connection and its cursors serve the next batch
        assert await pool.fetch_together([(INSERT, {"n": 7}), (CHECKED, {"n": 1})]) == [
            (7, "insert"),
            (1,),
        ]
        await pool.close()

    asyncio.run(work())
    assert _kept(postgres_url) == [1, 7]
