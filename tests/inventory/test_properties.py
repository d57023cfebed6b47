"""Property tests: random sequences of stock operations against a plain model.

After every step the database must agree with the model: on-hand per level, availability as
the read cache reports it (expired holds excluded at once), and a ledger that reconciles.
"""

from __future__ import annotations

import datetime as dt
import os

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)
from sqlalchemy import update

from sincro.db import Database, utcnow
from sincro.errors import SincroError
from sincro.inventory import service
from sincro.inventory.availability import load_snapshot
from sincro.inventory.models import Bucket, Reason, Reservation, ReservationLine
from sincro.inventory.schemas import MovementIn, ReservationLineIn, StockCountIn
from tests.conftest import wipe
from tests.factories import make_location, make_product

SKUS = ["P-X", "P-Y"]
LOCATIONS = {"L-A": True, "L-B": True, "L-C": False}  # code -> ships online


class StockMachine(RuleBasedStateMachine):
    db: Database
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        wipe(self.db)
        with self.db.write() as s:
            for code, online in LOCATIONS.items():
                make_location(s, code=code, ships_online=online)
            for sku in SKUS:
                make_product(s, sku=sku)
        self.on_hand = {(k, c): 0 for k in SKUS for c in LOCATIONS}
        self.blocked = {(k, c): 0 for k in SKUS for c in LOCATIONS}
        self.holds: dict[str, dict] = {}  # id -> {"lines": [...], "state": active|expired|closed}

    def held(self, sku: str, code: str) -> int:
        return sum(
            ln["qty"]
            for h in self.holds.values()
            if h["state"] == "active"
            for ln in h["lines"]
            if (ln["sku"], ln["location"]) == (sku, code)
        )

    def available(self, sku: str, code: str) -> int:
        key = (sku, code)
        return max(0, self.on_hand[key] - self.held(sku, code) - self.blocked[key])

    def _move(
        self, sku: str, code: str, qty: int, reason: Reason, bucket: Bucket = Bucket.on_hand
    ) -> bool:
        try:
            with self.db.write() as s:
                service.apply_movements(
                    s,
                    "prop",
                    [
                        MovementIn(
                            sku=sku, location=code, quantity=qty, reason=reason, bucket=bucket
                        )
                    ],
                )
            return True
        except SincroError:
            return False

    @rule(sku=st.sampled_from(SKUS), code=st.sampled_from(list(LOCATIONS)), qty=st.integers(1, 8))
    def receive(self, sku: str, code: str, qty: int) -> None:
        assert self._move(sku, code, qty, Reason.receipt)
        self.on_hand[(sku, code)] += qty

    @rule(sku=st.sampled_from(SKUS), code=st.sampled_from(list(LOCATIONS)), qty=st.integers(1, 5))
    def sell_at_counter(self, sku: str, code: str, qty: int) -> None:
        key = (sku, code)
        free = self.on_hand[key] - self.held(sku, code) - self.blocked[key]
        assert self._move(sku, code, -qty, Reason.sale) == (qty <= free)
        if qty <= free:
            self.on_hand[key] -= qty

    @rule(
        sku=st.sampled_from(SKUS), code=st.sampled_from(list(LOCATIONS)), count=st.integers(0, 12)
    )
    def count(self, sku: str, code: str, count: int) -> None:
        with self.db.write() as s:
            service.set_count(s, "prop", code, sku, StockCountIn(on_hand=count), None)
        self.on_hand[(sku, code)] = count

    @rule(
        sku=st.sampled_from(SKUS),
        code=st.sampled_from(list(LOCATIONS)),
        qty=st.integers(-3, 3).filter(bool),
    )
    def block(self, sku: str, code: str, qty: int) -> None:
        key = (sku, code)
        ok = self._move(sku, code, qty, Reason.block, Bucket.blocked_quality)
        assert ok == (self.blocked[key] + qty >= 0)
        if ok:
            self.blocked[key] += qty

    @rule(
        target=reservations,
        sku=st.sampled_from(SKUS),
        code=st.sampled_from([*LOCATIONS, None]),
        qty=st.integers(1, 6),
    )
    def reserve(self, sku: str, code: str | None, qty: int):  # type: ignore[no-untyped-def]
        if code is None:
            can = sum(self.available(sku, c) for c, online in LOCATIONS.items() if online)
        else:
            can = self.available(sku, code)
        try:
            with self.db.write() as s:
                out = service.reserve(
                    s, "prop", [ReservationLineIn(sku=sku, qty=qty, location=code)], 600
                )
        except SincroError:
            assert qty > can
            return multiple()
        assert qty <= can
        lines = [ln.model_dump() for ln in out.lines]
        assert sum(ln["qty"] for ln in lines) == qty
        if code is None:
            assert all(LOCATIONS[ln["location"]] for ln in lines)
        self.holds[out.id] = {"lines": lines, "state": "active"}
        return out.id

    @rule(rid=consumes(reservations))
    def commit(self, rid: str) -> None:
        hold = self.holds[rid]
        covered = all(
            self.on_hand[(ln["sku"], ln["location"])] >= ln["qty"] for ln in hold["lines"]
        )
        try:
            with self.db.write() as s:
                service.commit_reservation(s, rid, "prop")
            ok = True
        except SincroError:
            ok = False
        assert ok == (hold["state"] == "active" and covered)
        if ok:
            for ln in hold["lines"]:
                self.on_hand[(ln["sku"], ln["location"])] -= ln["qty"]
            hold["state"] = "closed"

    @rule(rid=consumes(reservations))
    def release(self, rid: str) -> None:
        hold = self.holds[rid]
        try:
            with self.db.write() as s:
                service.release_reservation(s, rid, "prop")
            ok = True
        except SincroError:
            ok = False
        assert ok == (hold["state"] == "active")
        hold["state"] = "closed"

    @rule(rid=reservations)
    def let_expire(self, rid: str) -> None:
        hold = self.holds[rid]
        if hold["state"] != "active":
            return
        past = utcnow() - dt.timedelta(seconds=1)
        with self.db.write() as s:
            res_id = service.get_reservation(s, rid).id
            s.execute(update(Reservation).where(Reservation.id == res_id).values(expires_at=past))
            s.execute(
                update(ReservationLine)
                .where(ReservationLine.reservation_id == res_id)
                .values(expires_at=past)
            )
        hold["state"] = "expired"

    @invariant()
    def matches_model(self) -> None:
        with self.db.read() as s:
            assert service.verify(s) == []
            for sku in SKUS:
                snap = load_snapshot(s, sku)
                for code in LOCATIONS:
                    place = snap.directory.by_code[code]
                    assert snap.on_hand[place.position] == self.on_hand[(sku, code)]
                    assert snap.available[place.position] == self.available(sku, code), (sku, code)


# CI runs 16 sequences of 25 steps (8 on PostgreSQL); SINCRO_PROPERTY_EXAMPLES=200 for a long run
@pytest.mark.parametrize("examples", [int(os.environ.get("SINCRO_PROPERTY_EXAMPLES", "16"))])
def test_random_operation_sequences(db: Database, examples: int, database_url: str) -> None:
    StockMachine.db = db
    n = examples if database_url.startswith("sqlite") else examples // 2
    run = settings(
        max_examples=n,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    StockMachine.TestCase.settings = run
    StockMachine.TestCase().runTest()
