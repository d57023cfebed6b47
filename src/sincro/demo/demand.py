"""The demo operator's demand model: how many units of each SKU people want, where and when.

One model drives both the two years of sales history loaded with the demo
(:mod:`sincro.demo.history`) and the shop simulator that keeps sales arriving afterwards
(``sincro simulate shop``), so the forecast monitor compares forecasts with actuals drawn from
the same world the history came from.

Per SKU: a national base rate (Zipf over the catalog: a few best sellers, a long tail), the
category's yearly shape (Mother's Day in May, Father's Day in August, Black Friday, Christmas;
smartphones peak harder than cables), a weekly shape (Saturday high, Sunday low), a launch date
(a fifth of the catalog launches inside the window and ramps up over four weeks) or an end of
life (a tenth fades out over six weeks and stops), and promotion weeks that lift sales. Demand
splits into online (about 12%, shipped from the DCs) and stores, by each store's weight (its
city's size); UFs take the sum of their stores. Everything is seeded and vectorised (NumPy).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from sincro.demo.catalog import CASES, CHIPS, SMARTPHONES, SMARTWATCHES, DemoProduct
from sincro.forecasting.calendar_br import black_friday

ONLINE_SHARE = 0.12
TOP_SKUS = 50  # store-level history for these; the rest at UF level
# national units a day of the best seller; the i-th SKU sells TOP_RATE / (i + 1) ** ZIPF
TOP_RATE = 700.0
ZIPF = 0.95
WEEKLY = np.array([0.92, 0.90, 0.93, 0.98, 1.12, 1.38, 0.77])  # Monday .. Sunday
# how strongly each category follows the retail calendar (1 = the full peaks)
SEASONAL_STRENGTH = {SMARTPHONES: 1.0, SMARTWATCHES: 1.0, CASES: 0.6, CHIPS: 0.2}


def second_sunday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7)


def retail_calendar(days: np.ndarray) -> np.ndarray:
    """Yearly multiplier per day (1 = an ordinary day): the weeks before Mother's Day (2nd
    Sunday of May), Father's Day (2nd Sunday of August), Black Friday week and the Christmas
    run-up, January's lull."""
    out = np.ones(len(days))
    years = {d.year for d in days.tolist()}
    peaks: list[tuple[dt.date, int, float]] = []
    for year in years:
        peaks += [
            (second_sunday(year, 5), 10, 0.8),
            (second_sunday(year, 8), 10, 0.5),
            (black_friday(year), 4, 2.2),
            (dt.date(year, 12, 24), 18, 0.9),
        ]
    ordinals = np.array([d.toordinal() for d in days.tolist()])
    for day, width, lift in peaks:
        distance = day.toordinal() - ordinals  # days before the peak
        ramp = (distance >= 0) & (distance <= width)
        out[ramp] += lift * (1 - distance[ramp] / (width + 1))
    january = np.array([d.month == 1 for d in days.tolist()])
    out[january] *= 0.82
    return out


@dataclass(frozen=True, slots=True)
class SkuDemand:
    """One SKU's national demand over the model's days (expected units a day, all channels)."""

    index: int
    sku: str
    category: str
    rate: np.ndarray  # float, one value a day
    promo: np.ndarray  # bool, promotion days


class DemandModel:
    """Expected demand of every product over ``days`` (a NumPy array of ``datetime.date``)."""

    def __init__(self, products: list[DemoProduct], first: dt.date, days: int, seed: int = 7):
        self.products = products
        self.first = first
        self.days = np.array([first + dt.timedelta(days=i) for i in range(days)], dtype=object)
        self.seed = seed
        rng = np.random.default_rng(seed)
        count = len(products)
        # best sellers are spread over categories: a seeded shuffle before the Zipf ranks
        self.rank = rng.permutation(count)
        self.base = TOP_RATE / (self.rank + 1.0) ** ZIPF
        self.launch = np.where(rng.random(count) < 0.2, rng.integers(0, days, count), -1)
        self.end = np.where(
            (rng.random(count) < 0.1) & (self.launch < 0), rng.integers(days // 3, days, count), -1
        )
        self._calendar = retail_calendar(self.days)
        self._weekday = WEEKLY[np.array([d.weekday() for d in self.days.tolist()])]
        self._promos = [self._promo_days(rng, days) for _ in range(count)]

    @staticmethod
    def _promo_days(rng: np.random.Generator, days: int) -> np.ndarray:
        promo = np.zeros(days, dtype=bool)
        for _ in range(int(rng.integers(1, 5))):
            start = int(rng.integers(0, max(1, days - 14)))
            promo[start : start + int(rng.integers(5, 15))] = True
        return promo

    def top(self, n: int = TOP_SKUS) -> list[int]:
        """Indexes of the ``n`` best sellers."""
        return [int(i) for i in np.argsort(self.rank)[:n]]

    def sku(self, index: int) -> SkuDemand:
        product = self.products[index]
        n = len(self.days)
        t = np.arange(n)
        strength = SEASONAL_STRENGTH.get(product.category, 0.4)
        rate = self.base[index] * self._weekday * (1 + strength * (self._calendar - 1))
        launch, end = int(self.launch[index]), int(self.end[index])
        if launch >= 0:
            rate = rate * np.clip((t - launch + 1) / 28.0, 0, 1)
        if end >= 0:
            rate = rate * np.clip((end - t) / 42.0, 0, 1)
        promo = self._promos[index]
        rate = np.where(promo, rate * 2.2, rate)
        return SkuDemand(index, product.sku, product.category, rate, promo)

    def rate_on(self, index: int, day: dt.date) -> float:
        """Expected national units of one SKU on one day inside the model's window."""
        offset = (day - self.first).days
        if not 0 <= offset < len(self.days):
            return 0.0
        return float(self.sku(index).rate[offset])


def store_weights(populations: list[float]) -> np.ndarray:
    """Each store's share of store demand: the square root of its city's size (a big city has
    more stores, each a little busier), normalised."""
    raw = np.array([math.sqrt(max(p, 1.0)) for p in populations])
    return raw / raw.sum()
