"""The demo's two years of sales: drawn from the demand model (calendar peaks, launches,
promotions), best sellers per store, the rest per UF, stock-outs censored, seeded, and readable
through inventory's sales history at every level."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sincro.db import Database
from sincro.demo.catalog import generate_products
from sincro.demo.demand import DemandModel, black_friday, retail_calendar
from sincro.demo.history import HistoryAlreadyLoaded, load_history
from sincro.demo.loader import load_demo
from sincro.inventory import history


def test_calendar_knows_black_friday_and_the_weekly_shape() -> None:
    assert black_friday(2025) == dt.date(2025, 11, 28)
    assert black_friday(2026) == dt.date(2026, 11, 27)
    days = np.array([dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(30)])
    calendar = retail_calendar(days)
    assert calendar[26] == calendar.max() > 2  # 27 Nov: Black Friday itself
    model = DemandModel(generate_products(40), dt.date(2026, 1, 5), 14)  # Monday 5 Jan
    rate = model.sku(model.top(1)[0]).rate
    assert rate[5] == max(rate[:7]) and rate[6] == min(rate[:7])  # Saturday high, Sunday low


def test_launches_start_at_zero_and_the_model_is_seeded() -> None:
    products = generate_products(200)
    model = DemandModel(products, dt.date(2025, 1, 1), 365, seed=3)
    launched = [i for i in range(200) if model.launch[i] > 0]
    assert launched, "a fifth of the catalog launches inside the window"
    first = launched[0]
    assert model.sku(first).rate[: model.launch[first]].sum() == 0
    again = DemandModel(products, dt.date(2025, 1, 1), 365, seed=3)
    assert np.array_equal(model.sku(first).rate, again.sku(first).rate)


def test_demo_history_loads_and_reads_at_every_level(migrated_url: str) -> None:
    load_demo(migrated_url, stores=30, dcs=3, products=70)
    last = dt.date(2026, 11, 30)
    summary = load_history(migrated_url, days=45, last=last)
    assert summary.location_rows > 0 and summary.uf_rows > 0 and summary.censored_days > 0
    with pytest.raises(HistoryAlreadyLoaded):
        load_history(migrated_url, days=5, last=last)
    db = Database(migrated_url)
    try:
        with db.read() as s:
            start = last - dt.timedelta(days=44)
            assert history.history_span(s) == (start, last)
            total = history.daily_demand(s, level="total", start=start, end=last)
            ufs = history.daily_demand(s, level="uf", start=start, end=last)
            regions = history.daily_demand(s, level="dc_region", start=start, end=last)
            stores = history.daily_demand(s, level="location", start=start, end=last)
            online = history.daily_demand(s, level="online", start=start, end=last)
    finally:
        db.dispose()
    assert total.units.sum() == ufs.units.sum() == regions.units.sum() == summary.units
    assert 0 < online.units.sum() < total.units.sum()
    assert stores.sku.nunique() <= 50  # store level: the best sellers only
    assert ufs.sku.nunique() > 50  # every SKU that sold, at UF level
    assert stores.censored.any()
