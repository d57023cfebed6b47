"""Group commit of lean reservations on PostgreSQL (``sincro.pggroup`` through
``lean.reserve_async``): reservations that queue together commit in one transaction, and each
gets the answer it would get alone.

- a batch mixing holds, a 409, an idempotent twin and a reused key answers each request as
  the same requests one by one, and leaves the same levels, ledger, events, reservations and
  records;
- batches from two event loops (two threads, two pools: as two api processes) on the same hot
  levels in opposite orders never deadlock (no batch falls back) and never oversell;
- a batch that fails as a whole (a twin of another connection wins the key's unique index
  while the batch waits for it) is run again one by one, each request answered on its own;
  when the connection broke, only keyed requests (safe to re-run) are.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from sincro.catalog import service as catalog
from sincro.db import Database, Timeouts
from sincro.errors import SincroError
from sincro.idempotency import Outcome
from sincro.inventory import lean, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from sincro.pgasync import AsyncPool, _wrapped, conninfo
from tests.conftest import wipe
from tests.factories import make_location, make_product
from tests.inventory import test_lean as sequences

SCOPE = sequences.SCOPE


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    try:
        yield database
    finally:
        database.dispose()


def _seed(db: Database, units: dict[str, int]) -> None:
    wipe(db)
    with db.write() as s:
        make_location(s, code="L-A")
        for sku in units:
            make_product(s, sku=sku)
    with db.write() as s:
        service.apply_movements(
            s,
            "pos",
            [
                MovementIn(sku=sku, location="L-A", quantity=qty, reason=Reason.receipt)
                for sku, qty in units.items()
            ],
        )
        catalog.product_ids(s, list(units))
        catalog.directory(s)


def _request(sku: str, qty: int, key: str | None, digest: str = "") -> lean.LeanReservation:
    return lean.LeanReservation(
        "key:shop",
        7,
        sku,
        "L-A",
        qty,
        600,
        idempotency=None if key is None else (SCOPE, key, digest or f"{sku}:{qty}"),
    )


def _ids(db: Database, req: lean.LeanReservation) -> tuple[int, int]:
    ids = lean.known_ids(db, req)
    assert ids is not None
    return ids


async def _answer(db: Database, pool: AsyncPool, req: lean.LeanReservation) -> Outcome | str | None:
    """The lean answer, or the code of the error it raised."""
    try:
        return await lean.reserve_async(db, pool, req, _ids(db, req))
    except SincroError as exc:
        return exc.code


def _shown(answer: Outcome | str | None, made: list[str]) -> Any:
    """An answer without what differs by run (the new reservation's id and times): a hold by
    its place among the holds, a replay by the place of the hold it replays."""
    if not isinstance(answer, Outcome):
        return answer
    rid = answer.body["id"]
    if not answer.replayed:
        made.append(rid)
    return (answer.status_code, answer.replayed, made.index(rid), answer.body["lines"])


def _mixed() -> list[lean.LeanReservation]:
    return [
        _request("P-Y", 1, "a"),
        _request("P-X", 2, "b"),
        _request("P-X", 5, "c"),  # 409: 4 left after b
        _request("P-Y", 1, "a"),  # a's twin: replays a, from inside the same transaction
        _request("P-X", 2, None),
        _request("P-X", 2, "b", digest="other"),  # b's key with another body: 422
        _request("P-Y", 9, None),  # 409
        _request("P-X", 2, "e"),  # P-X's last 2 units
        _request("P-Y", 2, "f"),
    ]


async def _answers(
    db: Database, requests: list[lean.LeanReservation], *, together: bool
) -> tuple[list[Any], int]:
    """Each request's answer, queued in one iteration (one batch) or one after the other,
    and how many batches went together."""
    pool = AsyncPool(db.url, Timeouts(), size=2)
    try:
        if together:
            answers = await asyncio.gather(*(_answer(db, pool, r) for r in requests))
        else:
            answers = [await _answer(db, pool, r) for r in requests]
        return list(answers), pool.groups.batches
    finally:
        await pool.close()


def test_a_batch_answers_and_keeps_exactly_what_one_by_one_does(db: Database) -> None:
    units = {"P-X": 6, "P-Y": 4}
    ran: dict[str, tuple[list[Any], dict[str, Any], int]] = {}
    for mode in ("together", "alone"):
        _seed(db, units)
        requests = _mixed()
        # a batch runs in (product, location) order (stable): one by one in that order too
        requests.sort(key=lambda r: _ids(db, r))
        answers, batches = asyncio.run(_answers(db, requests, together=mode == "together"))
        made: list[str] = []
        shown = [_shown(a, made) for a in answers]
        ran[mode] = (shown, sequences._state(db, made), batches)
    together, alone = ran["together"], ran["alone"]
    assert (together[2], alone[2]) == (1, 0)  # the first in one batch, the second never
    assert together[0] == alone[0]
    assert together[1] == alone[1]
    codes = [a if isinstance(a, str) else a[:2] for a in together[0]]
    assert codes.count((201, False)) == 5 and codes.count((201, True)) == 1
    assert codes.count("insufficient_stock") == 2 and codes.count("idempotency_key_reused") == 1
    with db.read() as s:
        assert service.verify(s) == []


def _storm_from_a_thread(
    db: Database, requests: list[lean.LeanReservation], out: dict[str, Any], name: str
) -> None:
    async def storm() -> None:
        pool = AsyncPool(db.url, Timeouts(), size=4, max_batch=16)
        try:
            out[name] = await asyncio.gather(*(_answer(db, pool, r) for r in requests))
            out[name + ":groups"] = pool.groups
        finally:
            await pool.close()

    asyncio.run(storm())


def test_batches_of_two_loops_on_the_same_hot_levels_never_deadlock_nor_oversell(
    db: Database,
) -> None:
    skus = ["P-A", "P-B", "P-C", "P-D"]
    units = dict.fromkeys(skus, 40)
    _seed(db, units)
    rng = random.Random(12)
    asked: dict[str, list[lean.LeanReservation]] = {}
    for name in ("one", "two"):
        order = skus if name == "one" else skus[::-1]  # opposite orders of arrival
        asked[name] = [_request(sku, 1, f"{name}-{n}-{sku}") for n in range(30) for sku in order]
        rng.shuffle(asked[name])
    out: dict[str, Any] = {}
    threads = [
        threading.Thread(target=_storm_from_a_thread, args=(db, asked[name], out, name))
        for name in asked
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    answers = out["one"] + out["two"]
    held = [a for a in answers if isinstance(a, Outcome)]
    assert len(held) == sum(units.values()) and all(not a.replayed for a in held)
    assert answers.count("insufficient_stock") == 2 * 120 - len(held)
    groups = [out["one:groups"], out["two:groups"]]
    assert all(g.batches > 0 for g in groups)  # they did go together
    assert [g.fallbacks for g in groups] == [0, 0]  # no deadlock, no serialization failure
    with db.read() as s:
        assert service.verify(s) == []
        levels = s.execute(text("SELECT reserved, on_hand FROM stock_levels")).all()
        holds = s.execute(text("SELECT count(*) FROM reservation_lines")).scalar()
    assert sorted(levels) == [(40, 40)] * 4 and holds == 160


def test_a_batch_that_fails_as_a_whole_answers_one_by_one(db: Database, postgres_url: str) -> None:
    """A twin on another connection holds the key's index entry: the batch's claim waits for
    it, then fails on the unique index when the twin commits; the batch rolled back entirely,
    and each request is run again alone (the twin's replay is the stored answer)."""
    _seed(db, {"P-X": 10})
    twin_body = '{"id": "from-the-twin", "lines": []}'
    other = psycopg.connect(conninfo(postgres_url))
    other.execute(
        "INSERT INTO idempotency_records (scope, key, request_hash, status_code, response,"
        " created_at) VALUES (%s, 'twin', 'P-X:1', 201, %s, now())",
        (SCOPE, twin_body),
    )  # not committed yet: the batch cannot see it

    def commit_once_the_batch_waits() -> None:
        with psycopg.connect(conninfo(postgres_url), autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                time.sleep(0.01)
        other.commit()

    requests = [_request("P-X", 1, "k1"), _request("P-X", 1, "twin"), _request("P-X", 1, None)]

    async def run() -> tuple[list[Any], Any]:
        pool = AsyncPool(db.url, Timeouts(), size=2)
        try:
            committer = threading.Thread(target=commit_once_the_batch_waits)
            committer.start()
            answers = await asyncio.gather(*(_answer(db, pool, r) for r in requests))
            committer.join()
            return answers, pool.groups
        finally:
            await pool.close()

    try:
        answers, groups = asyncio.run(run())
    finally:
        other.close()
    assert (groups.batches, groups.fallbacks) == (0, 1)
    first, twin, plain = answers
    assert isinstance(first, Outcome) and (first.status_code, first.replayed) == (201, False)
    assert isinstance(plain, Outcome) and (plain.status_code, plain.replayed) == (201, False)
    assert isinstance(twin, Outcome) and twin.replayed and twin.body["id"] == "from-the-twin"
    with db.read() as s:
        assert s.execute(text("SELECT reserved FROM stock_levels")).scalar() == 2
        assert s.execute(text("SELECT count(*) FROM reservations")).scalar() == 2
        assert service.verify(s) == []


def test_a_broken_connection_re_runs_only_the_keyed_requests(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch may have committed when its connection broke: a keyed request re-run replays
    what committed (or holds now), a plain one would hold twice, so it gets the error (503)."""
    _seed(db, {"P-X": 10})
    broken = _wrapped(psycopg.OperationalError("server closed the connection"), True)

    async def broke(*_: Any) -> Any:
        raise broken

    monkeypatch.setattr(AsyncPool, "fetch_together", broke)
    requests = [_request("P-X", 1, "k1"), _request("P-X", 1, None), _request("P-X", 1, "k2")]

    async def run() -> tuple[list[Any], Any]:
        pool = AsyncPool(db.url, Timeouts(), size=2)
        try:
            answers = await asyncio.gather(
                *(lean.reserve_async(db, pool, r, _ids(db, r)) for r in requests),
                return_exceptions=True,
            )
            return answers, pool.groups
        finally:
            await pool.close()

    answers, groups = asyncio.run(run())
    assert groups.fallbacks == 1
    keyed_one, plain, keyed_two = answers
    assert isinstance(keyed_one, Outcome) and keyed_one.status_code == 201
    assert isinstance(keyed_two, Outcome) and keyed_two.status_code == 201
    assert plain is broken
    with db.read() as s:
        assert s.execute(text("SELECT reserved FROM stock_levels")).scalar() == 2
