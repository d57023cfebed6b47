"""The sales history forecasting reads: till sales and online commits rolled up per local day
of the location, the online part apart, returns netted, stock-out days censored, aggregates
per UF / region / online / total, and a roll-up that repeats nothing after a crash."""

from __future__ import annotations

import datetime as dt

import pytest

from sincro.config import Settings
from sincro.db import Database
from sincro.inventory import history, service
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn, ReservationLineIn
from tests.factories import make_location, make_product, receive

UTC = dt.UTC


def _sale(db: Database, sku: str, location: str, qty: int, at: dt.datetime) -> None:
    with db.write() as s:
        service.apply_movements(
            s,
            "till",
            [
                MovementIn(
                    sku=sku, location=location, quantity=-qty, reason=Reason.sale, occurred_at=at
                )
            ],
        )


@pytest.fixture
def shop(db: Database) -> dict[str, str]:
    with db.write() as s:
        sp = make_location(s, code="SP01", state="SP", city="São Paulo")
        ac = make_location(s, code="AC01", state="AC", city="Rio Branco")
        rj = make_location(s, code="RJ01", state="RJ", city="Rio de Janeiro")
        product = make_product(s, sku="CEL-1")
        for loc in (sp, ac, rj):
            receive(s, product.sku, loc.code, 10)
    return {"sku": "CEL-1"}


def test_sales_roll_up_per_local_day_with_online_part(db: Database, shop: dict[str, str]) -> None:
    # 02:30 UTC on the 6th is still the 5th in São Paulo (UTC-3) and in Rio Branco (UTC-5)
    late = dt.datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    _sale(db, "CEL-1", "SP01", 2, late)
    _sale(db, "CEL-1", "AC01", 1, late)
    _sale(db, "CEL-1", "AC01", 1, dt.datetime(2026, 12, 6, 6, 0, tzinfo=UTC))  # 01:00 local, 6th
    with db.write() as s:
        held = service.reserve(
            s, "web", [ReservationLineIn(sku="CEL-1", qty=3, location="RJ01")], 600
        )
    with db.write() as s:
        service.commit_reservation(s, held.id, "web")
    with db.write() as s:
        assert history.roll_up(s) > 0
        assert history.roll_up(s) == 0  # the cursor moved: nothing twice
    with db.read() as s:
        by_location = history.daily_demand(
            s, level="location", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31)
        )
        online = history.daily_demand(
            s, level="online", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31)
        )
        total = history.daily_demand(
            s, level="total", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31)
        )
        regions = history.daily_demand(
            s, level="dc_region", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31)
        )
    got = {(d.key, d.day.day, d.units) for d in by_location.itertuples()}
    assert ("SP01", 5, 2) in got and ("AC01", 5, 1) in got and ("AC01", 6, 1) in got
    assert any(d.key == "RJ01" and d.units == 3 for d in by_location.itertuples())
    assert online.units.sum() == 3 and set(online.key) == {"online"}
    assert total.units.sum() == 7
    assert set(regions.key) == {"Sudeste", "Norte"}


def test_a_location_sold_out_marks_the_day_censored(db: Database, shop: dict[str, str]) -> None:
    now = dt.datetime.now(UTC)
    _sale(db, "CEL-1", "SP01", 10, now)  # sold out
    with db.write() as s:
        history.roll_up(s)
    with db.read() as s:
        days = history.daily_demand(
            s,
            level="location",
            locations=["SP01"],
            start=now.date() - dt.timedelta(days=2),
            end=now.date() + dt.timedelta(days=2),
        )
    assert [(d.units, d.censored) for d in days.itertuples()] == [(10, True)]
    # the sweep marks levels that are out of stock without a sale today as well
    with db.write() as s:
        assert history.mark_stockouts(s) >= 1


def test_returns_net_out_and_other_movements_only_move_the_cursor(
    db: Database, shop: dict[str, str]
) -> None:
    at = dt.datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    _sale(db, "CEL-1", "RJ01", 4, at)
    with db.write() as s:
        service.apply_movements(
            s,
            "till",
            [
                MovementIn(
                    sku="CEL-1", location="RJ01", quantity=1, reason=Reason.sale, occurred_at=at
                )
            ],
        )
        receive(s, "CEL-1", "RJ01", 5)
    with db.write() as s:
        history.roll_up(s, limit=2)  # small pages: the cursor advances page by page
        history.roll_up(s, limit=2)
        history.roll_up(s, limit=2)
    with db.read() as s:
        days = history.daily_demand(
            s, level="uf", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)
        )
    assert [(d.key, d.units) for d in days.itertuples()] == [("RJ", 3)]


def test_unknown_level_is_refused(db: Database) -> None:
    with db.read() as s, pytest.raises(ValueError, match="level must be one of"):
        history.daily_demand(s, level="city", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 2))  # type: ignore[arg-type]


def test_beat_sends_the_roll_up_only_when_the_ledger_moved_past_it(
    db: Database, shop: dict[str, str], settings: Settings
) -> None:
    from sincro.inventory.schedule import beat_entries, movements_to_roll_up

    assert beat_entries(settings)["roll-up-sales"]["gate"] is movements_to_roll_up
    assert movements_to_roll_up(db, settings)  # the fixture's receipts
    with db.write() as s:
        history.roll_up(s)
    assert not movements_to_roll_up(db, settings)
    _sale(db, "CEL-1", "SP01", 1, dt.datetime.now(UTC))
    assert movements_to_roll_up(db, settings)
    with db.write() as s:
        history.roll_up(s)
    assert not movements_to_roll_up(db, settings)
