"""The lean path on the event loop (``lean.reserve_async``, PostgreSQL) against the general one.

The same random request sequences as ``test_lean.py`` — its runner, with the lean step taken
on an event loop through the inventory's async pool — must answer the same and leave the
same levels, ledger, events, reservations and idempotency records as the general path. Plus:
zero oversell when many tasks storm one level from one loop, and twins sharing an
Idempotency-Key hold once (the one that loses the unique index falls back and replays).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text

from sincro.catalog import service as catalog
from sincro.db import Database, Timeouts
from sincro.errors import SincroError
from sincro.idempotency import Outcome, request_hash
from sincro.inventory import lean, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from sincro.pgasync import AsyncPool
from tests.conftest import wipe
from tests.factories import make_location, make_product
from tests.inventory import test_lean as sequences


class Loop:
    """An event loop kept for a whole sequence, with the pool made on it."""

    def __init__(self, db: Database) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = self.run(self._pool(db))

    @staticmethod
    async def _pool(db: Database) -> AsyncPool:
        return AsyncPool(db.url, Timeouts(), size=4)

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        self.run(self.pool.close())
        self.loop.close()


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Database, Loop]]:
    db = Database(postgres_url)
    loop = Loop(db)
    try:
        yield db, loop
    finally:
        loop.close()
        db.dispose()


def _request(sku: str, code: str, qty: int, key: str | None) -> lean.LeanReservation:
    payload = {"lines": [{"sku": sku, "qty": qty, "location": code}], "ttl_seconds": 600}
    return lean.LeanReservation(
        "key:shop",
        7,
        sku,
        code,
        qty,
        600,
        customer_id=sequences._customer(qty),
        idempotency=None if key is None else (sequences.SCOPE, key, request_hash(payload)),
    )


def _on_loop(loop: Loop) -> Any:
    """``test_lean``'s lean step, on the loop (the API's order: the loop when the ids are
    known, the general path when the lean one does not answer)."""

    def step(
        db: Database, sku: str, code: str, qty: int, key: str | None, used: list[int]
    ) -> Outcome:
        request = _request(sku, code, qty, key)
        ids = lean.known_ids(db, request)
        assert ids is not None  # the sequence's runner warms the caches first
        try:
            outcome = loop.run(lean.reserve_async(db, loop.pool, request, ids))
        except SincroError:
            used.append(1)
            raise
        if outcome is None:
            return sequences._general(db, sku, code, qty, key)
        used.append(1)
        return outcome

    return step


def test_lean_path_on_the_loop_leaves_the_same_state_as_the_general_path(
    pg: tuple[Database, Loop], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, loop = pg
    monkeypatch.setattr(sequences, "_lean", _on_loop(loop))
    answered = [0]

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,  # the same sequences every run (among them lean answers)
    )
    @given(
        start=st.lists(sequences.receipt, min_size=1, max_size=3),
        more=st.lists(sequences.op, max_size=14),
    )
    def check(start: list[tuple[Any, ...]], more: list[tuple[Any, ...]]) -> None:
        ops = start + more
        general = sequences._run(db, ops, use_lean=False)
        leaned = sequences._run(db, ops, use_lean=True)
        answered[0] += leaned.pop("lean_used")
        general.pop("lean_used")
        assert leaned == general

    check()
    assert answered[0] > 0


def _seed(db: Database, units: int) -> None:
    wipe(db)
    with db.write() as s:
        make_location(s, code="L-A")
        make_product(s, sku="P-X")
    with db.write() as s:
        service.apply_movements(
            s, "pos", [MovementIn(sku="P-X", location="L-A", quantity=units, reason=Reason.receipt)]
        )
        catalog.product_ids(s, ["P-X"])
        catalog.directory(s)


def test_no_oversell_when_tasks_storm_one_level(pg: tuple[Database, Loop]) -> None:
    db, loop = pg
    _seed(db, 50)

    async def buyer(n: int) -> list[str]:
        out = []
        for i in range(6):
            req = _request("P-X", "L-A", 1, f"{n}-{i}")
            ids = lean.known_ids(db, req)
            assert ids is not None
            try:
                held = await lean.reserve_async(db, loop.pool, req, ids)
                out.append("held" if held is not None else "fell back")
            except SincroError as exc:
                out.append(exc.code)
        return out

    async def storm() -> list[list[str]]:
        return await asyncio.gather(*(buyer(n) for n in range(16)))

    answers = [a for buyer_answers in loop.run(storm()) for a in buyer_answers]
    assert answers.count("held") == 50 and answers.count("insufficient_stock") == 46
    with db.read() as s:
        assert service.verify(s) == []
        reserved, on_hand = s.execute(text("SELECT reserved, on_hand FROM stock_levels")).one()
        holds = s.execute(text("SELECT count(*) FROM reservation_lines")).scalar()
        records = s.execute(text("SELECT count(*) FROM idempotency_records")).scalar()
    assert (reserved, on_hand, holds, records) == (50, 50, 50, 50)


def test_twins_with_one_key_hold_once(pg: tuple[Database, Loop]) -> None:
    """Concurrent requests with the same key and body: one holds; each other one either
    replays the stored answer or loses the unique index and falls back (None), and the
    general path then replays it."""
    db, loop = pg
    _seed(db, 10)

    async def twins() -> list[Outcome | None]:
        req = _request("P-X", "L-A", 1, "twin")
        ids = lean.known_ids(db, req)
        assert ids is not None
        return await asyncio.gather(
            *(lean.reserve_async(db, loop.pool, req, ids) for _ in range(8))
        )

    outcomes = loop.run(twins())
    fresh = [o for o in outcomes if o is not None and not o.replayed]
    replayed = [o for o in outcomes if o is not None and o.replayed]
    assert len(fresh) == 1
    assert all(o.body == fresh[0].body and o.status_code == 201 for o in replayed)
    for outcome in outcomes:
        if outcome is None:
            again = sequences._general(db, "P-X", "L-A", 1, "twin")
            assert again.replayed and again.body == fresh[0].body
    with db.read() as s:
        reserved = s.execute(text("SELECT reserved FROM stock_levels")).scalar()
        holds = s.execute(text("SELECT count(*) FROM reservations")).scalar()
    assert (reserved, holds) == (1, 1)
