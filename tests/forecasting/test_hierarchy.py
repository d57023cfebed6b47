"""A hierarchical run (store → UF → national in one run): the stored means and P50s add up
where the history does, a UF kept per UF is a leaf, and every level is served once promoted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sincro.db import Database, insert_rows
from sincro.forecasting import monitor, repository as repo, runs
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history
from sincro.inventory.models import SalesDayUF
from tests.factories import make_location, make_product

TODAY = dt.date(2026, 12, 6)
DAYS = 84


@pytest.fixture
def run_id(db: Database) -> int:
    rng = np.random.default_rng(9)
    first = TODAY - dt.timedelta(days=DAYS)
    with db.write() as s:
        sp1 = make_location(s, code="SP1", state="SP")
        sp2 = make_location(s, code="SP2", state="SP")
        rj1 = make_location(s, code="RJ1", state="RJ", city="Rio de Janeiro")
        phone = make_product(s, sku="CEL-H")  # store-level history everywhere
        case = make_product(s, sku="CAP-H")  # part of its history kept per UF
        rows, uf_rows = [], []
        for i in range(DAYS):
            day = first + dt.timedelta(days=i)
            lift = 1.5 if day.weekday() == 5 else 1.0
            for loc, rate in ((sp1, 9), (sp2, 4), (rj1, 6)):
                rows.append(_day(phone.id, loc.id, day, int(rng.poisson(rate * lift))))
            rows.append(_day(case.id, sp1.id, day, int(rng.poisson(3))))
            for state, rate in (("SP", 5), ("MG", 7)):
                uf_rows.append({**_day(case.id, 0, day, int(rng.poisson(rate))), "state": state})
        history.load_history(s, rows)
        for r in uf_rows:
            r.pop("location_id")
        insert_rows(s, SalesDayUF.__table__, uf_rows)  # type: ignore[arg-type]
        scope = RunScope(
            level="location", hierarchy=True, horizon=7, history_days=DAYS, skus_per_chunk=5
        )
        run = runs.start(s, scope, today=TODAY)
        out = run.id
    assert runs.run_chunk(db, out, 0, worker="w")
    return out


def _day(product: int, location: int, day: dt.date, units: int) -> dict[str, object]:
    return {
        "product_id": product,
        "location_id": location,
        "day": day,
        "units": units,
        "online_units": 0,
        "stockout": False,
    }


def _stored(db: Database, run_id: int, sku: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    with db.read() as s:
        for key in repo.keys_of(s, run_id):
            for v in repo.values_at(s, run_id, key):
                if v.sku == sku:
                    rows.append({"key": key, "day": v.day, "mean": v.mean, **v.quantiles})
        flags = {x.key: x.flags for x in repo.series_of(s, run_id) if x.sku == sku}
    frame = pd.DataFrame(rows)
    return frame.pivot(index="day", columns="key", values="mean"), frame.assign(
        flags=frame["key"].map(flags)
    )


def test_a_hierarchical_run_adds_up_and_serves_every_level(db: Database, run_id: int) -> None:
    # one fixture run checked three ways (the run is the costly part)
    _stores_add_up_to_their_uf_and_ufs_to_the_nation(db, run_id)
    _a_uf_kept_per_uf_is_a_leaf_and_its_stores_are_flagged(db, run_id)
    _promotion_serves_every_level_and_the_monitor_reads_each(db, run_id)


def _stores_add_up_to_their_uf_and_ufs_to_the_nation(db: Database, run_id: int) -> None:
    mean, frame = _stored(db, run_id, "CEL-H")
    median = frame.pivot(index="day", columns="key", values="50")
    assert len(mean) == 7
    for wide in (mean, median):
        assert np.allclose(wide["SP1"] + wide["SP2"], wide["uf:SP"], atol=1e-3)
        assert np.allclose(wide["RJ1"], wide["uf:RJ"], atol=1e-3)
        assert np.allclose(wide["uf:SP"] + wide["uf:RJ"], wide["total:total"], atol=1e-3)
    assert (frame["10"] <= frame["50"] + 1e-9).all() and (frame["50"] <= frame["90"]).all()
    assert (frame["10"] >= 0).all() and not frame["flags"].str.contains("unreconciled").any()
    with db.read() as s:
        run = runs.get_run(s, run_id)
    assert run.params["hierarchy"] == ["location", "uf", "total"]
    assert run.metrics["overall"]["series"] == 3 + 2 + 1 + 1 + 2 + 1  # both SKUs' nodes


def _a_uf_kept_per_uf_is_a_leaf_and_its_stores_are_flagged(db: Database, run_id: int) -> None:
    mean, frame = _stored(db, run_id, "CAP-H")
    assert set(mean.columns) == {"SP1", "uf:SP", "uf:MG", "total:total"}
    assert np.allclose(mean["uf:SP"] + mean["uf:MG"], mean["total:total"], atol=1e-3)
    store_flags = frame.loc[frame["key"] == "SP1", "flags"].iloc[0]
    assert "unreconciled" in store_flags  # SP's history is more than SP1's sales


def _promotion_serves_every_level_and_the_monitor_reads_each(db: Database, run_id: int) -> None:
    with db.write() as s:
        runs.promote(s, run_id, "test")
    with db.read() as s:
        assert {p.level for p in runs.registry(s)} == {"location", "uf", "total"}
        uf = runs.forecast_for(s, "CEL-H", "uf", "SP", 7)
        total = runs.forecast_for(s, "CEL-H", "total", "total", 7)
        stores = [runs.forecast_for(s, "CEL-H", "location", c, 7) for c in ("SP1", "SP2", "RJ1")]
    assert uf.run_id == total.run_id == run_id
    day_one = sum(f.points[0].mean for f in stores)
    assert day_one == pytest.approx(total.points[0].mean, abs=1e-3)
    # the monitor compares each level's forecasts with that level's actuals
    with db.write() as s:
        run = runs.get_run(s, run_id)
        assert monitor.record_day(s, run, TODAY) == 10  # every node of both SKUs
        rows = repo.monitor_rows(s, run_id)
    assert sum(r.series for r in rows) == 10


def test_a_hierarchy_starts_at_the_stores() -> None:
    with pytest.raises(ValidationError, match="level must be 'location'") as caught:
        RunScope(level="uf", hierarchy=True)
    assert caught.value.errors()[0]["loc"] == ("hierarchy",)
