"""The lean reservation path (``inventory/lean.py``) against the general one.

The same random sequence of requests — receipts, counter sales, one-line reservations with and
without an Idempotency-Key (repeated, sometimes with another body), commits, releases and
holds whose time runs out — is run once through the general path only and once through the
lean path (falling back to the general one where the lean path says so, as the API does). Both
must answer the same and leave IDENTICAL levels, ledger, outbox events, reservations and
idempotency records (reservation ids and timestamps aside: ids are random, times are now).

Plus: zero oversell when threads storm one level through the lean path on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, example, given, settings
from sqlalchemy import text

from sincro.catalog import service as catalog
from sincro.db import Database, utcnow
from sincro.errors import SincroError
from sincro.idempotency import Outcome, request_hash, run_idempotent
from sincro.inventory import lean, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn, ReservationLineIn
from tests.conftest import wipe
from tests.factories import make_location, make_product

SKUS = ["P-X", "P-Y"]
CODES = ["L-A", "L-B"]
KEYS = ["k1", "k2", "k3"]
SCOPE = "reservations:7"

receipt = st.tuples(
    st.just("receive"), st.sampled_from(SKUS), st.sampled_from(CODES), st.integers(1, 6)
)
op = st.one_of(
    receipt,
    st.tuples(st.just("sell"), st.sampled_from(SKUS), st.sampled_from(CODES), st.integers(1, 4)),
    st.tuples(
        st.just("reserve"),
        st.sampled_from(SKUS),
        st.sampled_from(CODES),
        st.integers(1, 4),
        st.sampled_from([None, *KEYS]),
    ),
    st.tuples(st.just("commit"), st.integers(0, 7)),
    st.tuples(st.just("release"), st.integers(0, 7)),
    st.tuples(st.just("expire"), st.integers(0, 7)),
)


def _general(db: Database, sku: str, code: str, qty: int, key: str | None) -> Outcome:
    payload = {"lines": [{"sku": sku, "qty": qty, "location": code}], "ttl_seconds": 600}

    def work(session: Any) -> dict[str, Any]:
        line = ReservationLineIn(sku=sku, qty=qty, location=code)
        out = service.reserve(
            session, "key:shop", [line], 600, owner_key_id=7, customer_id=_customer(qty)
        )
        return out.model_dump(mode="json")

    return run_idempotent(db.write_retrying, SCOPE, key, payload, work, status=201)


def _customer(qty: int) -> int | None:
    """Some reservations name a customer (the assistant's orders), some do not."""
    return 1000 + qty if qty % 2 else None


def _lean(db: Database, sku: str, code: str, qty: int, key: str | None, used: list[int]) -> Outcome:
    payload = {"lines": [{"sku": sku, "qty": qty, "location": code}], "ttl_seconds": 600}
    request = lean.LeanReservation(
        "key:shop",
        7,
        sku,
        code,
        qty,
        600,
        customer_id=_customer(qty),
        idempotency=None if key is None else (SCOPE, key, request_hash(payload)),
    )
    try:
        outcome = lean.reserve(db, request)
    except SincroError:
        used.append(1)  # answered by the lean path (short, or a key reused)
        raise
    if outcome is None:
        return _general(db, sku, code, qty, key)
    used.append(1)
    return outcome


def _run(db: Database, ops: list[tuple[Any, ...]], use_lean: bool) -> dict[str, Any]:
    wipe(db)
    with db.write() as s:
        for code in CODES:
            make_location(s, code=code)
        for sku in SKUS:
            make_product(s, sku=sku)
    with db.write() as s:  # what a warm api process knows
        catalog.product_ids(s, SKUS)
        catalog.directory(s)
    answers: list[Any] = []
    made: list[str] = []  # reservation ids in the order they were made
    used: list[int] = []
    for step in ops:
        kind = step[0]
        try:
            if kind in ("receive", "sell"):
                _, sku, code, qty = step
                reason = Reason.receipt if kind == "receive" else Reason.sale
                with db.write() as s:
                    service.apply_movements(
                        s,
                        "pos",
                        [
                            MovementIn(
                                sku=sku,
                                location=code,
                                quantity=qty if kind == "receive" else -qty,
                                reason=reason,
                            )
                        ],
                    )
                answers.append(kind)
            elif kind == "reserve":
                _, sku, code, qty, key = step
                outcome = (_lean if use_lean else _general)(
                    db, sku, code, qty, key, *([used] if use_lean else [])
                )  # type: ignore[operator]
                body = dict(outcome.body)
                if not outcome.replayed:
                    made.append(body["id"])
                answers.append(
                    (
                        outcome.status_code,
                        outcome.replayed,
                        made.index(body["id"]),
                        body["status"],
                        body["lines"],
                    )
                )
            elif not made:
                answers.append("nothing yet")
            else:
                rid = made[step[1] % len(made)]
                if kind == "expire":
                    past = utcnow() - dt.timedelta(seconds=1)
                    with db.write() as s:
                        for table, column in (
                            ("reservations", "id"),
                            ("reservation_lines", "reservation_id"),
                        ):
                            s.execute(
                                text(
                                    f"UPDATE {table} SET expires_at = :t WHERE {column} ="
                                    " (SELECT id FROM reservations WHERE public_id = :r)"
                                ),
                                {"t": past.replace(tzinfo=None), "r": rid},
                            )
                    answers.append("expired")
                else:
                    with db.write() as s:
                        close = (
                            service.commit_reservation
                            if kind == "commit"
                            else service.release_reservation
                        )
                        answers.append(close(s, rid, "key:shop").status)
        except SincroError as exc:
            answers.append((exc.code, exc.field, exc.details))
    return {"answers": answers, **_state(db, made), "lean_used": len(used)}


def _state(db: Database, made: list[str]) -> dict[str, Any]:
    order = {rid: i for i, rid in enumerate(made)}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with db.read() as s:
            return [tuple(r) for r in s.execute(text(sql))]

    return {
        "levels": rows(
            "SELECT product_id, location_id, on_hand, reserved, blocked_quality, safety_stock,"
            " version FROM stock_levels ORDER BY product_id, location_id"
        ),
        "ledger": [
            (*r[:-1], order.get(r[-1], r[-1]))
            for r in rows(
                "SELECT product_id, location_id, bucket, quantity, reason, source,"
                " idempotency_key, reference FROM movements ORDER BY id"
            )
        ],
        "events": rows(
            "SELECT seq, topic, sku, location, available, on_hand, reserved, version, cause,"
            " reference FROM events WHERE topic = 'stock' ORDER BY seq"
        ),
        "reservations": [
            (order[r[0]], *r[1:])
            for r in rows(
                "SELECT public_id, status, channel, owner_key_id, order_reference, customer_id,"
                " closed_at IS NULL FROM reservations ORDER BY id"
            )
        ],
        # by the reservation's place in the sequence, not its row id: the general path draws
        # (and rolls back) a reservation id before a 409, the lean path does not
        "lines": [
            (order[r[0]], *r[1:])
            for r in rows(
                "SELECT r.public_id, l.product_id, l.location_id, l.quantity, l.active FROM"
                " reservation_lines l JOIN reservations r ON r.id = l.reservation_id"
                " ORDER BY l.id"
            )
        ],
        "records": rows(
            "SELECT scope, key, request_hash, status_code FROM idempotency_records ORDER BY id"
        ),
    }


@pytest.mark.parametrize("examples", [10])
def test_lean_and_general_paths_leave_the_same_state(
    db: Database, database_url: str, examples: int
) -> None:
    lean_answers = [0]

    @settings(
        max_examples=examples if database_url.startswith("sqlite") else examples // 2,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(start=st.lists(receipt, min_size=1, max_size=3), more=st.lists(op, max_size=14))
    # always a held reservation, a short one and a replay: five random examples (PostgreSQL)
    # may hold none, and the lean path must be shown answering, not only falling back
    @example(
        start=[("receive", "P-X", "L-A", 5)],
        more=[
            ("reserve", "P-X", "L-A", 4, "k1"),
            ("reserve", "P-X", "L-A", 4, None),
            ("reserve", "P-X", "L-A", 4, "k1"),
            ("commit", 0),
        ],
    )
    def check(start: list[tuple[Any, ...]], more: list[tuple[Any, ...]]) -> None:
        ops = start + more
        general = _run(db, ops, use_lean=False)
        leaned = _run(db, ops, use_lean=True)
        lean_answers[0] += leaned.pop("lean_used")
        general.pop("lean_used")
        assert leaned == general

    check()
    assert lean_answers[0] > 0  # the lean path did answer, not only fall back


def test_replays_and_refuses_a_reused_key_like_the_general_path(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="L-A")
        make_product(s, sku="P-X")
    with db.write() as s:
        service.apply_movements(
            s, "pos", [MovementIn(sku="P-X", location="L-A", quantity=1, reason=Reason.receipt)]
        )
        catalog.product_ids(s, ["P-X"])
        catalog.directory(s)
    used: list[int] = []
    first = _lean(db, "P-X", "L-A", 1, "same", used)
    again = _lean(db, "P-X", "L-A", 1, "same", used)  # sold out now: still the stored answer
    assert (first.status_code, again.status_code, again.replayed) == (201, 201, True)
    assert again.body == first.body and used == [1, 1]
    with pytest.raises(SincroError) as refused:
        _lean(db, "P-X", "L-A", 2, "same", used)
    assert refused.value.code == "idempotency_key_reused"
    with pytest.raises(SincroError) as short:
        _lean(db, "P-X", "L-A", 1, None, used)
    assert short.value.code == "insufficient_stock"
    assert short.value.details == [
        {"sku": "P-X", "location": "L-A", "requested": 1, "available": 0}
    ]


def test_no_oversell_when_threads_storm_one_level(postgres_url: str) -> None:
    db = Database(postgres_url)
    wipe(db)
    try:
        with db.write() as s:
            make_location(s, code="L-A")
            make_product(s, sku="P-X")
        with db.write() as s:
            service.apply_movements(
                s,
                "pos",
                [MovementIn(sku="P-X", location="L-A", quantity=50, reason=Reason.receipt)],
            )
            catalog.product_ids(s, ["P-X"])
            catalog.directory(s)
        won: list[int] = []
        lost: list[int] = []

        def buyer(n: int) -> None:
            for i in range(12):
                req = lean.LeanReservation(
                    "key:shop", 7, "P-X", "L-A", 1, 600, idempotency=(SCOPE, f"{n}-{i}", "h")
                )
                try:
                    (won if lean.reserve(db, req) is not None else lost).append(1)
                except SincroError:
                    lost.append(1)

        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 50 and len(lost) == 46
        with db.read() as s:
            assert service.verify(s) == []
            reserved, on_hand = s.execute(text("SELECT reserved, on_hand FROM stock_levels")).one()
            holds = s.execute(text("SELECT count(*) FROM reservation_lines")).scalar()
        assert (reserved, on_hand, holds) == (50, 50, 50)
    finally:
        db.dispose()
