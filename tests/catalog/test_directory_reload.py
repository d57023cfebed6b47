"""The location directory past its TTL: the hot paths (``known_ids``, ``cached_directory``)
keep answering from it for a grace while ONE background thread reloads it, and answer None
(the slow path) past the grace or once it was forgotten."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from sincro.catalog import service as catalog
from sincro.db import Database
from tests.factories import make_location, make_product

TTL = catalog.DIRECTORY_TTL_SECONDS


@pytest.fixture
def known(db: Database) -> tuple[str, tuple[int, int]]:
    """A location and a product this process knows (directory loaded, SKU remembered): the
    directory's key and the ids ``known_ids`` answers."""
    with db.write() as s:
        ids = (make_product(s, sku="SKU-A").id, make_location(s, code="LJ-A").id)
    with db.write() as s:
        catalog.product_ids(s, ["SKU-A"])  # remembered once this commits
    with db.read() as s:
        catalog.directory(s)
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") == ids
    return catalog._engine_key(db.write_engine), ids


class HeldLoads:
    """``repository.all_locations`` counted and held until released (a reload in flight)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.started = threading.Event()
        self.release = threading.Event()
        real = catalog.repository.all_locations

        def load(session: Any, *args: Any) -> Any:
            self.count += 1
            self.started.set()
            assert self.release.wait(timeout=10)
            return real(session, *args)

        monkeypatch.setattr(catalog.repository, "all_locations", load)


def _age(key: str, seconds: float) -> None:
    catalog._directories[key].loaded_at = time.monotonic() - seconds


def _reload_done(key: str) -> None:
    catalog._reloads[key].join(timeout=10)
    assert not catalog._reloads[key].is_alive()


def test_past_the_ttl_the_hot_paths_answer_while_one_thread_reloads(
    db: Database, known: tuple[str, tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, ids = known
    first = catalog._directories[key]
    _age(key, TTL + 0.5)
    loads = HeldLoads(monkeypatch)
    crowd = threading.Barrier(20)
    answers: list[Any] = []

    def ask() -> None:
        crowd.wait(timeout=5)
        for _ in range(50):
            answers.append(catalog.known_ids(db.write_engine, "SKU-A", "LJ-A"))
            answers.append(catalog.cached_directory(key))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert loads.started.wait(timeout=5)
    # every caller answered from the stale directory while the one reload was held
    assert len(answers) == 2000 and answers.count(ids) == 1000 and answers.count(first) == 1000
    loads.release.set()
    _reload_done(key)
    assert loads.count == 1
    assert catalog._directories[key] is first  # unchanged fingerprint: the same positions
    assert time.monotonic() - first.loaded_at < TTL
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") == ids
    assert loads.count == 1  # fresh again: no more reloads


def test_past_the_grace_the_hot_paths_answer_none(
    db: Database, known: tuple[str, tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = known
    loads, before = HeldLoads(monkeypatch), catalog._reloads.get(key)
    _age(key, TTL + catalog.DIRECTORY_GRACE_SECONDS + 0.5)
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") is None
    assert catalog.cached_directory(key) is None
    assert loads.count == 0 and catalog._reloads.get(key) is before  # the slow path reloads


def test_a_forget_during_a_background_reload_is_not_undone(
    db: Database, known: tuple[str, tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, ids = known
    _age(key, TTL + 0.5)
    loads = HeldLoads(monkeypatch)
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") == ids
    assert loads.started.wait(timeout=5)
    catalog.forget_locations()  # a directory.changed event while the reload reads
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") is None
    loads.release.set()
    _reload_done(key)
    assert key not in catalog._directories
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") is None
    assert catalog.cached_directory(key) is None


def test_a_changed_location_is_seen_after_the_background_reload(
    db: Database, known: tuple[str, tuple[int, int]]
) -> None:
    key, ids = known
    first = catalog._directories[key]
    with db.write() as s:  # changed without an event: only the TTL brings it in
        s.execute(text("UPDATE locations SET name = 'Loja Nova' WHERE code = 'LJ-A'"))
    _age(key, TTL + 0.5)
    assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") == ids
    _reload_done(key)
    fresh = catalog.cached_directory(key)
    assert fresh is not None and fresh is not first
    assert fresh.by_code["LJ-A"].name == "Loja Nova"
    assert first.by_code["LJ-A"].name != "Loja Nova"  # the old snapshot is left as it was


@pytest.mark.one_database  # SQLite's write lock; PostgreSQL reads never wait for one
def test_a_background_reload_does_not_wait_for_sqlites_write_lock(
    db: Database, known: tuple[str, tuple[int, int]]
) -> None:
    """Loaded last in a write session (``BEGIN IMMEDIATE`` on SQLite), the directory is
    reloaded in the background through the read engine: it finishes while another connection
    holds the write lock, instead of stalling every writer (or failing) behind it."""
    assert db.is_sqlite
    key, ids = known
    with db.write() as s:
        catalog.directory(s, need_code="LJ-NEW")  # a write session's load (a miss reloads)
    first = catalog._directories[key]
    path = db.write_engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")  # a writer holds SQLite's write lock meanwhile
        _age(key, TTL + 0.5)
        assert catalog.known_ids(db.write_engine, "SKU-A", "LJ-A") == ids
        catalog._reloads[key].join(timeout=5)
        assert not catalog._reloads[key].is_alive(), "the reload waits for the write lock"
        assert time.monotonic() - first.loaded_at < TTL  # reloaded (unchanged: same object)
    finally:
        holder.rollback()
        holder.close()
