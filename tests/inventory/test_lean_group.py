"""The lean path on SQLite runs through the database's group commit: reservations queued
while the writer is busy share one transaction. Each must still answer and leave what it
would alone: a held one its hold, ledger row, event and record; a twin with the same
Idempotency-Key in the same group the stored answer (held once); a short one its 409 without
a trace; a key reused with another body its refusal. Plus zero oversell when threads storm
one level through it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sincro.catalog import service as catalog
from sincro.db import Database
from sincro.errors import SincroError
from sincro.idempotency import Outcome, request_hash
from sincro.inventory import lean, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from tests.conftest import wipe
from tests.factories import make_location, make_product
from tests.services import migrated_sqlite

SCOPE = "reservations:7"


@pytest.fixture
def db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    database = Database(migrated_sqlite(sqlite_template, tmp_path))
    wipe(database)
    with database.write() as s:
        make_location(s, code="L-A")
        make_product(s, sku="P-X")
        make_product(s, sku="P-Y")
    with database.write() as s:
        service.apply_movements(
            s,
            "pos",
            [
                MovementIn(sku="P-X", location="L-A", quantity=3, reason=Reason.receipt),
                MovementIn(sku="P-Y", location="L-A", quantity=1, reason=Reason.receipt),
            ],
        )
        catalog.product_ids(s, ["P-X", "P-Y"])
        catalog.directory(s)
    yield database
    database.dispose()


def _request(sku: str, qty: int, key: str | None) -> lean.LeanReservation:
    payload = {"lines": [{"sku": sku, "qty": qty, "location": "L-A"}], "ttl_seconds": 600}
    keyed = None if key is None else (SCOPE, key, request_hash(payload))
    return lean.LeanReservation("key:shop", 7, sku, "L-A", qty, 600, idempotency=keyed)


def _answer(future: Future[Outcome | None]) -> Any:
    try:
        outcome = future.result(30)
    except SincroError as exc:
        return exc.code
    assert outcome is not None
    return (outcome.status_code, outcome.replayed, outcome.body["id"])


def _rows(db: Database, sql: str) -> list[Any]:
    with db.read() as s:
        return [tuple(r) for r in s.execute(text(sql))]


def test_reservations_in_one_group_answer_and_keep_as_alone(db: Database) -> None:
    writer = db.group_commit()
    release, started = threading.Event(), threading.Event()

    def hold_the_writer(conn: Any) -> tuple[bool, None]:
        started.set()
        assert release.wait(30)
        return False, None

    held = writer.submit(hold_the_writer)
    assert started.wait(30)
    groups = writer.groups
    asked = [
        _request("P-X", 2, "k1"),  # held
        _request("P-X", 2, "k1"),  # its twin: the answer stored a moment ago, in the group
        _request("P-X", 2, None),  # short: 1 left
        _request("P-X", 1, "k1"),  # the key with another body: refused
        _request("P-Y", 1, None),  # held (another level)
        _request("P-X", 1, "k2"),  # held: the last unit
    ]
    with ThreadPoolExecutor(len(asked)) as pool:
        futures = []
        for request in asked:  # in this order into the queue
            queued = writer._queue.qsize()
            futures.append(pool.submit(lean.reserve, db, request))
            deadline = time.monotonic() + 30
            while writer._queue.qsize() == queued and time.monotonic() < deadline:
                time.sleep(0.005)
        release.set()
        held.result(30)
        answers = [_answer(f) for f in futures]
    assert writer.groups == groups + 2  # the holding unit's, then ONE for all six
    first = answers[0]
    assert first[:2] == (201, False) and answers[1] == (201, True, first[2])
    assert answers[2:4] == ["insufficient_stock", "idempotency_key_reused"]
    assert answers[4][:2] == answers[5][:2] == (201, False)
    with db.read() as s:
        assert service.verify(s) == []
    levels = "SELECT on_hand, reserved FROM stock_levels ORDER BY product_id"
    assert _rows(db, levels) == [(3, 3), (1, 1)]
    assert _rows(db, "SELECT public_id FROM reservations ORDER BY id") == [
        (first[2],),
        (answers[4][2],),
        (answers[5][2],),
    ]
    ledger = "SELECT bucket, quantity, reference FROM movements WHERE reason = 'reservation'"
    assert _rows(db, ledger + " ORDER BY id") == [
        ("reserved", 2, first[2]),
        ("reserved", 1, answers[4][2]),
        ("reserved", 1, answers[5][2]),
    ]
    assert _rows(db, "SELECT reserved FROM events WHERE cause = 'reservation' ORDER BY seq") == [
        (2,),
        (1,),
        (3,),
    ]
    assert _rows(db, "SELECT key FROM idempotency_records ORDER BY id") == [("k1",), ("k2",)]


def test_no_oversell_when_threads_and_a_loop_storm_one_level_on_sqlite(db: Database) -> None:
    with db.write() as s:
        service.apply_movements(
            s, "pos", [MovementIn(sku="P-X", location="L-A", quantity=47, reason=Reason.receipt)]
        )
    won: list[Outcome] = []
    lost: list[str] = []

    def keep(outcome: Outcome | None) -> None:
        assert outcome is not None
        won.append(outcome)

    def buyer(n: int) -> None:
        for i in range(12):
            try:
                keep(lean.reserve(db, _request("P-X", 1, f"t{n}-{i}")))
            except SincroError as exc:
                lost.append(exc.code)

    async def loop_buyers() -> None:
        ids = lean.known_ids(db, _request("P-X", 1, None))
        assert ids is not None

        async def one(i: int) -> None:
            try:
                keep(await lean.reserve_async(db, None, _request("P-X", 1, f"a{i}"), ids))
            except SincroError as exc:
                lost.append(exc.code)

        await asyncio.gather(*(one(i) for i in range(24)))

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(6)]
    threads.append(threading.Thread(target=asyncio.run, args=(loop_buyers(),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 50 and len(lost) == 46 and set(lost) == {"insufficient_stock"}
    assert len({o.body["id"] for o in won}) == 50
    with db.read() as s:
        assert service.verify(s) == []
    levels = "SELECT on_hand, reserved FROM stock_levels ORDER BY product_id"
    assert _rows(db, levels) == [(50, 50), (1, 0)]
    assert _rows(db, "SELECT count(*) FROM reservations") == [(50,)]
