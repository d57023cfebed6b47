"""The service level the reorder points actually achieve: the demo operator's next 90 days.

A demo-like operator in a fresh SQLite database: ``--stores`` stores in cities of the demo's
list, ``--skus`` of the demo's 50 best sellers (store-level history, as the demo keeps it),
``--history`` days of daily sales drawn (Poisson) from the demo's demand model
(:mod:`sincro.demo.demand`: weekly and yearly shape, launches, end of life, promotion weeks),
each store taking its share of national demand the way the demo's 1,800 stores do (the
square root of its city's size; ``--network`` splits it over fewer stores, for busier
ones). The demand model's promotion weeks are registered as catalog promotions
(``--no-promotions``: the catalog does not know them, as in the demo).

Then 90 days are simulated, one day at a time, with the product's planning loop:

- every review day (each ``--review`` days) a forecast run at location level is made over
  the history so far and promoted, and :func:`sincro.forecasting.replenishment.advise`
  gives each SKU × store its reorder point and order-up-to level at ``--service-level``;
- an order is placed when the inventory position (on hand + on order: ``advise`` counts
  only on hand, so the simulation adds what is in transit) is at or below the reorder
  point, up to the order-up-to level (``--policy order-up-to``: at every review, whatever
  the position); it arrives ``--lead-time`` days later;
- each day's demand is drawn from the demand model; what cannot be served is lost, and
  the day is recorded censored in the sales history (what the next runs read).

Reported per demand pattern (the series' pattern in the first run): the cycle service
level — the share of review cycles in which no demand was lost, what a reorder point at the
α quantile of lead-time demand promises to keep at α — next to the target; the fill rate
(units served / units wanted); the share of days without lost sales.

    nice -n 10 .venv/bin/python -m bench.forecast_service_level [--stores 8] [--skus 20]
        [--history 364] [--days 90] [--json bench/results/forecast_service_level.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from sincro.catalog import service as catalog
from sincro.catalog.models import Location, Product
from sincro.catalog.schemas import PromotionIn
from sincro.catalog.timezones import zone_for
from sincro.db import Database
from sincro.demo.catalog import generate_products
from sincro.demo.cities import CITIES
from sincro.demo.demand import ONLINE_SHARE, DemandModel
from sincro.forecasting import replenishment, runs
from sincro.forecasting.replenishment import Policy
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history
from sincro.migrate import upgrade

NETWORK_STORES = 1800  # the demo's stores: a store's share is out of all of them


@dataclass
class Tally:
    cycles: int = 0
    cycles_ok: int = 0
    wanted: int = 0
    served: int = 0
    days: int = 0
    days_without_loss: int = 0
    series: set[tuple[str, str]] = field(default_factory=set)

    def out(self) -> dict[str, Any]:
        return {
            "series": len(self.series),
            "cycles": self.cycles,
            "cycle_service_level": round(self.cycles_ok / self.cycles, 4) if self.cycles else None,
            "fill_rate": round(self.served / self.wanted, 4) if self.wanted else None,
            "days_without_lost_sales": (
                round(self.days_without_loss / self.days, 4) if self.days else None
            ),
            "units_wanted": self.wanted,
        }


def _stores(n: int) -> list[tuple[str, Any]]:
    """``n`` cities from the biggest down, every other one (big and small stores)."""
    ranked = sorted(CITIES, key=lambda c: -c.population_k)
    picked = ranked[::2][:n]
    return [(f"LJ{i + 1:03d}", c) for i, c in enumerate(picked)]


def _share(population_k: int, network: int) -> float:
    mean_root = float(np.mean([math.sqrt(c.population_k) for c in CITIES]))
    return math.sqrt(population_k) / (network * mean_root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=8)
    parser.add_argument("--skus", type=int, default=20)
    parser.add_argument("--history", type=int, default=364)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--review", type=int, default=7)
    parser.add_argument("--lead-time", type=int, default=7)
    parser.add_argument("--service-level", type=float, default=0.95)
    parser.add_argument("--no-promotions", action="store_true")
    parser.add_argument(
        "--policy",
        choices=("advise", "order-up-to"),
        default="advise",
        help="advise: order when position <= reorder point (what advise suggests); "
        "order-up-to: order up to the order-up-to level at every review",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--network", type=int, default=NETWORK_STORES, help="stores sharing national demand"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed + 100)
    today = dt.date(2026, 12, 7)
    first = today - dt.timedelta(days=args.history)
    products = generate_products(1000, seed=args.seed)
    model = DemandModel(products, first, args.history + args.days, seed=args.seed)
    chosen = model.top(50)[:: max(1, 50 // args.skus)][: args.skus]
    stores = _stores(args.stores)
    share = {code: _share(city.population_k, args.network) for code, city in stores}

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/service.sqlite"
        upgrade(url)
        db = Database(url)
        demand = {i: model.sku(i) for i in chosen}
        with db.write() as s:
            ids = {}
            for i in chosen:
                p = products[i]
                item = Product(sku=p.sku, ean=None, name=p.name, category=p.category, unit="UN")
                s.add(item)
                s.flush()
                ids[p.sku] = item.id
            places = {}
            for code, city in stores:
                loc = Location(
                    code=code,
                    kind="store",
                    name=f"Loja {city.name}",
                    city=city.name,
                    state=city.state,
                    latitude=city.latitude,
                    longitude=city.longitude,
                    ships_online=False,
                    pickup_enabled=False,
                    active=True,
                    time_zone=zone_for(city.state, city.name),
                )
                s.add(loc)
                s.flush()
                places[code] = loc.id
            rows = []
            for i in chosen:
                rate = demand[i].rate[: args.history] * (1 - ONLINE_SHARE)
                for code, _ in stores:
                    sold = rng.poisson(rate * share[code])
                    for d in np.flatnonzero(sold):
                        rows.append(
                            _row(ids, places, products[i].sku, code, first, int(d), int(sold[d]))
                        )
            history.load_history(s, rows)
            if not args.no_promotions:
                for i in chosen:
                    _promotions(s, i, products[i].sku, demand[i].promo, first)
        print(f"history: {len(rows)} store-days with sales, {len(chosen) * len(stores)} series")

        policy = Policy(
            service_level=args.service_level,
            review_days=args.review,
            default_lead_time_days=args.lead_time,
        )
        horizon = max(28, args.lead_time + args.review)
        on_hand: dict[tuple[str, str], int] = {}
        pipeline: dict[tuple[str, str], list[tuple[int, int]]] = {}
        pattern_of: dict[tuple[str, str], str] = {}
        tallies: dict[str, Tally] = {}
        cycle_lost: dict[tuple[str, str], bool] = {}
        runs_seconds = []
        weekly: dict[int, list[int]] = {}  # review cycle → [cycles, without lost sales]
        for t in range(args.days):
            day = today + dt.timedelta(days=t)
            if t % args.review == 0:
                began = time.perf_counter()
                advice = _plan(db, day, args.history, horizon, len(chosen), policy)
                runs_seconds.append(time.perf_counter() - began)
                for key, a in advice.items():
                    pattern_of.setdefault(key, a.pattern)
                    if key not in on_hand:  # day 0: start at the order-up-to level
                        on_hand[key] = a.order_up_to
                    if t > 0 and key in cycle_lost:  # a review cycle ended
                        tally = tallies.setdefault(pattern_of[key], Tally())
                        tally.cycles += 1
                        tally.cycles_ok += int(not cycle_lost[key])
                        week = weekly.setdefault(t // args.review, [0, 0])
                        week[0] += 1
                        week[1] += int(not cycle_lost[key])
                    cycle_lost[key] = False
                    transit = sum(q for _, q in pipeline.get(key, []))
                    position = on_hand[key] + transit
                    if args.policy == "order-up-to" or position <= a.reorder_point:
                        qty = max(0, a.order_up_to - position)
                        if qty:
                            pipeline.setdefault(key, []).append((t + args.lead_time, qty))
            rows = []
            offset = args.history + t
            for i in chosen:
                sku = products[i].sku
                rate = demand[i].rate[offset] * (1 - ONLINE_SHARE)
                for code, _ in stores:
                    key = (sku, code)
                    arriving = [q for when, q in pipeline.get(key, []) if when == t]
                    pipeline[key] = [(w, q) for w, q in pipeline.get(key, []) if w != t]
                    on_hand[key] = on_hand.get(key, 0) + sum(arriving)
                    wanted = int(rng.poisson(rate * share[code]))
                    served = min(wanted, on_hand[key])
                    on_hand[key] -= served
                    lost = wanted > served
                    if key in pattern_of:
                        tally = tallies.setdefault(pattern_of[key], Tally())
                        tally.series.add(key)
                        tally.wanted += wanted
                        tally.served += served
                        tally.days += 1
                        tally.days_without_loss += int(not lost)
                        cycle_lost[key] = cycle_lost.get(key, False) or lost
                    if served or lost:
                        day_row = _row(ids, places, sku, code, today, t, served)
                        day_row["stockout"] = lost
                        rows.append(day_row)
            with db.write() as s:
                history.load_history(s, rows)
        db.dispose()
    for key, lost in cycle_lost.items():  # the last (possibly shorter) cycle
        tally = tallies.setdefault(pattern_of[key], Tally())
        tally.cycles += 1
        tally.cycles_ok += int(not lost)

    total = Tally()
    for tally in tallies.values():
        total.cycles += tally.cycles
        total.cycles_ok += tally.cycles_ok
        total.wanted += tally.wanted
        total.served += tally.served
        total.days += tally.days
        total.days_without_loss += tally.days_without_loss
        total.series |= tally.series
    report = {
        "target": args.service_level,
        "stores": args.stores,
        "skus": len(chosen),
        "days": args.days,
        "review_days": args.review,
        "lead_time_days": args.lead_time,
        "policy": args.policy,
        "promotions_in_catalog": not args.no_promotions,
        "network_stores": args.network,
        "per_pattern": {p: t.out() for p, t in sorted(tallies.items())},
        "overall": total.out(),
        "cycle_service_level_by_cycle": {
            str(today + dt.timedelta(days=(k - 1) * args.review)): round(ok / n, 3)
            for k, (n, ok) in sorted(weekly.items())
        },
        "forecast_runs": len(runs_seconds),
        "seconds_per_run": round(float(np.mean(runs_seconds)), 2) if runs_seconds else None,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


def _row(
    ids: dict[str, int],
    places: dict[str, int],
    sku: str,
    code: str,
    first: dt.date,
    offset: int,
    units: int,
) -> dict[str, Any]:
    return {
        "product_id": ids[sku],
        "location_id": places[code],
        "day": first + dt.timedelta(days=int(offset)),
        "units": int(units),
        "online_units": 0,
        "stockout": False,
    }


def _promotions(session: Any, index: int, sku: str, promo: np.ndarray, first: dt.date) -> None:
    """The demand model's promotion runs as catalog promotions of the SKU."""
    flags = np.r_[0, promo.astype(int), 0]
    starts = np.flatnonzero(np.diff(flags) == 1)
    ends = np.flatnonzero(np.diff(flags) == -1) - 1
    for n, (a, b) in enumerate(zip(starts, ends, strict=True)):
        catalog.upsert_promotion(
            session,
            PromotionIn(
                code=f"SIM-{index}-{n}",
                name=f"Promoção {sku}",
                sku=sku,
                discount_percent=Decimal("20"),
                valid_from=first + dt.timedelta(days=int(a)),
                valid_to=first + dt.timedelta(days=int(b)),
            ),
        )


def _plan(
    db: Database, day: dt.date, history_days: int, horizon: int, skus: int, policy: Policy
) -> dict[tuple[str, str], Any]:
    """A location-level run over the history up to yesterday, promoted; advice per store."""
    with db.write() as s:
        scope = RunScope(
            level="location", horizon=horizon, history_days=history_days, skus_per_chunk=skus
        )
        run = runs.start(s, scope, today=day)
        run_id, chunks = run.id, run.chunks_total
    for number in range(chunks):
        runs.run_chunk(db, run_id, number, worker="bench")
    out = {}
    with db.write() as s:
        runs.promote(s, run_id, "bench")
        for code in sorted({loc.code for loc in catalog.directory(s).places}):
            for a in replenishment.advise(s, code, policy):
                out[(a.sku, code)] = a
    return out


if __name__ == "__main__":
    main()
