"""Brazilian calendar computed, and events (promotions, holidays) masked from the baseline
and re-applied as an uplift on future event days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from sincro.forecasting.calendar_br import black_friday, calendar_events, easter, holidays
from sincro.forecasting.engine import ForecastConfig, forecast_chunk
from tests.forecasting import synthetic as S


def test_movable_and_fixed_national_holidays() -> None:
    assert easter(2025) == date(2025, 4, 20) and easter(2024) == date(2024, 3, 31)
    days = holidays(2025)
    for expected in [
        date(2025, 1, 1),
        date(2025, 3, 3),  # carnival monday
        date(2025, 3, 4),
        date(2025, 4, 18),  # good friday
        date(2025, 4, 21),
        date(2025, 6, 19),  # corpus christi
        date(2025, 9, 7),
        date(2025, 11, 20),
        date(2025, 12, 25),
    ]:
        assert expected in days
    assert date(2023, 11, 20) not in holidays(2023)  # national only from 2024
    assert len(days) == 13
    assert black_friday(2025) == date(2025, 11, 28) and black_friday(2024) == date(2024, 11, 29)


def test_calendar_events_flag_each_date() -> None:
    ds = pd.Series(pd.to_datetime(["2025-11-27", "2025-11-28", "2025-12-25", "2025-12-26"]))
    flags = calendar_events(ds)
    assert flags["black_friday"].tolist() == [0, 1, 0, 0]
    assert flags["holiday"].tolist() == [0, 0, 1, 0]


def _promoted(rng: np.random.Generator) -> pd.DataFrame:
    y = rng.poisson(10, 210).astype(float)
    promo = np.zeros(210)
    promo[5::11] = 1
    y[promo == 1] = rng.poisson(30, int(promo.sum()))
    frame = S.series("sku", y)
    frame["promo"] = promo
    return frame


def test_promotion_days_are_masked_from_the_baseline_and_their_uplift_reapplied() -> None:
    rng = np.random.default_rng(12)
    frames = [_promoted(rng).assign(unique_id=f"sku{i}") for i in range(3)]
    frame = pd.concat(frames)
    horizon = 14
    future_ds = pd.date_range(frame["ds"].max() + pd.Timedelta(days=1), periods=horizon)
    future = pd.DataFrame({"unique_id": "sku0", "ds": future_ds, "promo": 0.0})
    future.loc[[3, 10], "promo"] = 1.0
    config = ForecastConfig(horizon=horizon, freq="D", events=("promo",))
    result = forecast_chunk(frame, config, future=future)
    assert result.uplift["smooth"]["promo"] == pytest.approx(3.0, rel=0.2)
    one = result.forecasts[result.forecasts["unique_id"] == "sku0"].reset_index(drop=True)
    plain = one.drop(index=[3, 10])
    assert plain["mean"].mean() == pytest.approx(10, abs=1.5)  # the baseline, not inflated
    assert (one.loc[[3, 10], "mean"] > 2.2 * plain["mean"].mean()).all()
    assert (one.loc[[3, 10], "p90"] > one.loc[[3, 10], "p50"]).all()
    # without the flag the promotions leak into the baseline and nothing marks the days
    leaky = forecast_chunk(frame, ForecastConfig(horizon=horizon, freq="D"))
    leaked = leaky.forecasts[leaky.forecasts["unique_id"] == "sku0"]["mean"]
    assert leaked.mean() > plain["mean"].mean() + 0.8
    assert leaked.max() < one["mean"].max()


def test_missing_event_column_is_refused() -> None:
    frame = S.series("a", np.arange(40.0))
    with pytest.raises(ValueError, match="missing event column: promo"):
        forecast_chunk(frame, ForecastConfig(horizon=3, freq="D", events=("promo",)))
