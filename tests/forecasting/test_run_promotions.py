"""Catalog promotions reach a forecast run as an event: past promotion days teach the lift,
a planned promotion over the horizon raises the forecast of its days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from sincro.catalog import service as catalog
from sincro.catalog.schemas import PromotionIn
from sincro.db import Database
from sincro.forecasting import runs
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history
from tests.factories import make_location, make_product

TODAY = dt.date(2026, 12, 7)  # a Monday: the horizon starts on a Monday
DAYS = 84


def _promotion(code: str, sku: str, first: dt.date, days: int) -> PromotionIn:
    return PromotionIn(
        code=code,
        name=code,
        sku=sku,
        discount_percent=Decimal("20"),
        valid_from=first,
        valid_to=first + dt.timedelta(days=days - 1),
    )


def test_a_planned_catalog_promotion_lifts_the_forecast_of_its_days(db: Database) -> None:
    rng = np.random.default_rng(3)
    first = TODAY - dt.timedelta(days=DAYS)
    past = [first + dt.timedelta(days=d) for d in (10, 38, 66)]  # three 5-day promotions
    with db.write() as s:
        shop = make_location(s, code="PR1", state="SP")
        product = make_product(s, sku="CEL-P")
        promo_days = {p + dt.timedelta(days=i) for p in past for i in range(5)}
        rows = []
        for i in range(DAYS):
            day = first + dt.timedelta(days=i)
            rate = 12 * (2.5 if day in promo_days else 1.0)
            rows.append(
                {
                    "product_id": product.id,
                    "location_id": shop.id,
                    "day": day,
                    "units": int(rng.poisson(rate)),
                    "online_units": 0,
                    "stockout": False,
                }
            )
        history.load_history(s, rows)
        for n, start in enumerate(past):
            catalog.upsert_promotion(s, _promotion(f"P{n}", "CEL-P", start, 5))
        # planned: Wednesday to Friday of the first forecast week
        catalog.upsert_promotion(s, _promotion("NEXT", "CEL-P", TODAY + dt.timedelta(days=2), 3))
        scope = RunScope(level="location", horizon=14, history_days=DAYS, skus=["CEL-P"])
        run_id = runs.start(s, scope, today=TODAY).id
    assert runs.run_chunk(db, run_id, 0, worker="w")
    with db.write() as s:
        assert runs.get_run(s, run_id).params["events"] == ["promo"]
        runs.promote(s, run_id, "test")
        points = runs.forecast_for(s, "CEL-P", "location", "PR1", 14).points
    means = {p.day: p.mean for p in points}
    promoted = [means[TODAY + dt.timedelta(days=d)] for d in (2, 3, 4)]
    plain = [means[TODAY + dt.timedelta(days=d)] for d in (9, 10, 11)]  # same weekdays
    assert sum(promoted) / sum(plain) > 1.8  # the learnt lift is about 2.5
