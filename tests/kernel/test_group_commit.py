"""Group commit on SQLite (``sincro.group_commit``): units queued while the writer is busy
share one transaction, yet each keeps its all-or-nothing effect — a unit that raises or keeps
nothing is rolled back alone, the others commit — and no answer is given before the COMMIT;
a failed COMMIT fails every unit of its group and keeps none."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sincro.db import Database
from sincro.group_commit import GroupCommit


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.sqlite'}")
    with database.write() as s:
        s.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        s.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"))
        s.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER"
                " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield database
    database.dispose()


def _insert(*keys: str, keep: bool = True) -> Any:
    def unit(conn: Any) -> tuple[bool, str]:
        for k in keys:
            conn.execute("INSERT INTO t (k, v) VALUES (?, 1)", (k,))
        return keep, "+".join(keys)

    return unit


def _held(writer: GroupCommit) -> tuple[threading.Event, Future[Any]]:
    """A unit that keeps the writer (and the write lock) until the event is set: what is
    submitted meanwhile waits in the queue and forms the next group."""
    release = threading.Event()
    started = threading.Event()

    def unit(conn: Any) -> tuple[bool, None]:
        started.set()
        assert release.wait(30)
        return False, None

    future = writer.submit(unit)
    assert started.wait(30)
    return release, future


def _keys(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.scalars(text("SELECT k FROM t ORDER BY k")))


def test_one_group_keeps_each_units_effect_all_or_nothing(db: Database) -> None:
    writer = db.group_commit()
    release, first = _held(writer)
    groups = writer.groups
    a = writer.submit(_insert("a"))
    b = writer.submit(_insert("b1", "a"))  # its second insert breaks the primary key
    c = writer.submit(_insert("c", keep=False))  # wrote, but keeps nothing
    d = writer.submit(_insert("d1", "d2"))
    time.sleep(0.05)
    assert not any(f.done() for f in (a, b, c, d))  # nothing answered before its COMMIT
    release.set()
    assert first.result(30) is None
    assert (a.result(30), c.result(30), d.result(30)) == ("a", "c", "d1+d2")
    with pytest.raises(DBAPIError, match="UNIQUE constraint failed"):
        b.result(30)
    assert writer.groups == groups + 2  # the held unit's group, then ONE for a, b, c and d
    assert _keys(db) == ["a", "d1", "d2"]  # b's first insert and c's went with their units


def test_a_failed_commit_fails_every_unit_of_the_group(db: Database) -> None:
    writer = db.group_commit()
    release, first = _held(writer)
    a = writer.submit(_insert("a"))

    def orphan(conn: Any) -> tuple[bool, None]:  # breaks a deferred key: COMMIT fails
        conn.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
        return True, None

    b = writer.submit(orphan)
    release.set()
    first.result(30)
    for future in (a, b):
        with pytest.raises(DBAPIError, match="FOREIGN KEY constraint failed"):
            future.result(30)
    assert _keys(db) == []
    assert writer.run(_insert("e")) == "e"  # the writer goes on with the next group
    assert _keys(db) == ["e"]


def test_the_writer_thread_ends_when_idle_and_starts_again(db: Database) -> None:
    writer = GroupCommit(db.write_engine, idle_seconds=0.05)
    assert writer.run(_insert("a")) == "a"
    deadline = time.monotonic() + 30
    while writer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer._thread is None
    assert writer.run(_insert("b")) == "b"
    assert _keys(db) == ["a", "b"]


def test_asyncio_callers_get_their_own_answers_from_a_shared_group(db: Database) -> None:
    writer = db.group_commit()

    async def storm() -> list[Any]:
        release, first = _held(writer)
        groups = writer.groups

        async def one(unit: Any) -> Any:
            try:
                return await writer.run_async(unit)
            except DBAPIError as exc:
                return type(exc.orig).__name__

        tasks = [
            asyncio.ensure_future(one(unit))
            for unit in (_insert("a"), _insert("b", "a"), _insert("c", keep=False), _insert("d"))
        ]
        deadline = time.monotonic() + 30
        while writer._queue.qsize() < len(tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # until every unit is queued behind the held one
        assert not any(t.done() for t in tasks)
        release.set()
        answers = await asyncio.gather(*tasks)
        first.result(30)
        assert writer.groups == groups + 2
        return answers

    assert asyncio.run(storm()) == ["a", "IntegrityError", "c", "d"]
    assert _keys(db) == ["a", "d"]
