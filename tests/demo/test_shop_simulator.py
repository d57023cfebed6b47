"""The shop simulator buys through the real API: online carts reserved then committed or
abandoned, till sales as movements, lost sales on a stock-out; what it sells becomes sales
history with the online part apart."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import make_key

from sincro.access.models import Role
from sincro.app import create_app
from sincro.catalog.models import Location
from sincro.config import Settings
from sincro.db import Database
from sincro.demo.loader import load_demo
from sincro.inventory import history, service
from sincro.simulators.shop import ShopSimulator


def test_shoppers_buy_online_and_at_tills(db: Database, settings: Settings) -> None:
    load_demo(settings.database_url, stores=12, dcs=2, products=40)
    with db.write() as s:
        stores = list(s.scalars(select(Location.code).where(Location.kind == "store")))
        shop_key = make_key(s, Role.channel)
        tills_key = make_key(s, Role.store, tuple(stores))
    with TestClient(create_app(settings)) as client:
        shop = ShopSimulator(
            "http://testserver",
            shop_key,
            tills_key,
            products=40,
            stores=12,
            dcs=2,
            seed=3,
            client=client,
        )
        outcomes = [shop.step() for _ in range(160)]
        assert shop.checkout_due(now=float("inf")) == outcomes.count("online_reserved")
    counts = shop.stats.counts
    at_tills = outcomes.count("store_sold") + outcomes.count("store_lost")
    assert at_tills > 110  # most purchases are at stores (88%)
    assert outcomes.count("store_sold") > 30  # some shelves are empty: lost sales happen
    assert outcomes.count("online_reserved") > 3
    assert counts["online_committed"] + counts["online_abandoned"] == outcomes.count(
        "online_reserved"
    )
    assert "store_error" not in outcomes and "online_error" not in outcomes
    with db.write() as s:
        while history.roll_up(s):
            pass
        assert service.verify(s) == []
    today = dt.date.today()
    with db.read() as s:
        total = history.daily_demand(
            s, level="total", start=today - dt.timedelta(days=2), end=today + dt.timedelta(days=2)
        )
        online = history.daily_demand(
            s, level="online", start=today - dt.timedelta(days=2), end=today + dt.timedelta(days=2)
        )
    assert total.units.sum() == outcomes.count("store_sold") + counts["online_committed"]
    assert online.units.sum() == counts["online_committed"]
