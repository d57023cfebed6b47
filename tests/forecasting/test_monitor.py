"""The live monitor: forecasts of a promoted run compared with the actuals day by day (stock-out
days left out), coverage and scaled error per pattern, a drift alert raised and resolved."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from sincro.alerts import Alert
from sincro.db import Database
from sincro.forecasting import monitor, runs
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history
from tests.factories import make_location, make_product

RUN_DAY = dt.date(2026, 11, 1)


@pytest.fixture
def live(db: Database) -> tuple[int, int, int]:
    rng = np.random.default_rng(2)
    with db.write() as s:
        shop = make_location(s, code="LJ9", state="SP")
        product = make_product(s, sku="CEL-M")
        past = [
            {
                "product_id": product.id,
                "location_id": shop.id,
                "day": RUN_DAY - dt.timedelta(days=d),
                "units": int(rng.poisson(10)),
                "online_units": 0,
                "stockout": False,
            }
            for d in range(1, 91)
        ]
        history.load_history(s, past)
        run_id = runs.start(
            s,
            RunScope(level="location", skus=["CEL-M"], horizon=14, history_days=90),
            today=RUN_DAY,
        ).id
    runs.run_chunk(db, run_id, 0, worker="t")
    with db.write() as s:
        runs.promote(s, run_id, "test")
    return run_id, product.id, shop.id


def _actuals(
    db: Database, product: int, shop: int, units: list[int], censored: int | None = None
) -> None:
    with db.write() as s:
        history.load_history(
            s,
            [
                {
                    "product_id": product,
                    "location_id": shop,
                    "day": RUN_DAY + dt.timedelta(days=i),
                    "units": u,
                    "online_units": 0,
                    "stockout": i == censored,
                }
                for i, u in enumerate(units)
            ],
        )


def test_the_monitor_tracks_coverage_and_leaves_stockouts_out(
    db: Database, live: tuple[int, int, int]
) -> None:
    run_id, product, shop = live
    _actuals(db, product, shop, [10, 9, 11, 10, 0, 12, 10, 9], censored=4)
    with db.write() as s:
        assert monitor.catch_up(s, RUN_DAY + dt.timedelta(days=8)) == 7  # the censored day left out
        assert monitor.catch_up(s, RUN_DAY + dt.timedelta(days=8)) == 0  # nothing twice
        summary = monitor.summary(s, run_id)
        assert monitor.check_drift(s, RUN_DAY + dt.timedelta(days=8), monitor.Thresholds()) == (
            0,
            0,
        )
    (pattern,) = summary["patterns"]
    assert summary["patterns"][pattern]["series"] == 7
    assert summary["patterns"][pattern]["coverage"] >= 0.6


def test_drift_raises_an_alert_and_recovery_resolves_it(
    db: Database, live: tuple[int, int, int]
) -> None:
    _run_id, product, shop = live
    _actuals(db, product, shop, [40] * 7)  # demand jumped: far outside the band
    today = RUN_DAY + dt.timedelta(days=7)
    limits = monitor.Thresholds(min_series=3)
    with db.write() as s:
        monitor.catch_up(s, today)
        assert monitor.check_drift(s, today, limits) == (1, 0)
        assert monitor.check_drift(s, today, limits) == (1, 0)
    with db.read() as s:
        (alert,) = s.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()
    assert "cobertura P10–P90 0%" in alert.message
    # a week later the window holds only good days again
    _later = [10] * 7
    with db.write() as s:
        history.load_history(
            s,
            [
                {
                    "product_id": product,
                    "location_id": shop,
                    "day": RUN_DAY + dt.timedelta(days=7 + i),
                    "units": u,
                    "online_units": 0,
                    "stockout": False,
                }
                for i, u in enumerate(_later)
            ],
        )
    later = today + dt.timedelta(days=7)
    with db.write() as s:
        monitor.catch_up(s, later)
        raised, resolved = monitor.check_drift(s, later, limits)
    assert (raised, resolved) == (0, 1)
