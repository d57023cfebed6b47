"""Total demand over a lead time from sample paths, against references computed apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sincro.forecasting.engine import ForecastConfig, forecast_chunk, lead_time_demand_quantiles
from tests.forecasting import synthetic as S


def test_independent_poisson_days_give_the_poisson_total() -> None:
    rng = np.random.default_rng(0)
    rate, lead = 4.0, 7
    errors = rng.poisson(rate, (600, 28)) - rate  # backtest error paths of a right forecast
    got = lead_time_demand_quantiles(
        np.full(28, rate), errors, 1.0, lead, (10, 50, 90), n_samples=20_000
    )
    for level, value in got.items():
        assert value == pytest.approx(stats.poisson.ppf(level / 100, rate * lead), abs=1.0)
    # the sum of the daily quantiles is far wider than the total's own quantiles
    daily_p90 = stats.poisson.ppf(0.9, rate)
    assert lead * daily_p90 > got[90] + 5


def test_correlated_errors_widen_the_total_like_a_monte_carlo_reference() -> None:
    rng = np.random.default_rng(1)
    lead, scale = 10, 2.0
    # each path carries a level error that persists over the days, plus day noise
    level_error = rng.normal(0, 1, (4000, 1))
    paths = level_error + rng.normal(0, 1, (4000, 30))
    mean = np.full(30, 50.0)
    got = lead_time_demand_quantiles(mean, paths, scale, lead, (10, 90), n_samples=20_000)
    # reference: simulate the same process directly
    ref_level = rng.normal(0, 1, (50_000, 1))
    totals = (mean[:lead] + scale * (ref_level + rng.normal(0, 1, (50_000, lead)))).sum(axis=1)
    for level in (10, 90):
        assert got[level] == pytest.approx(np.quantile(totals, level / 100), rel=0.02)
    # independent days would be much narrower: √10 · 2 against √(100 + 10) · 2
    assert got[90] - got[10] > 2 * 1.2816 * scale * np.sqrt(lead) * 2


def test_paths_shorter_than_the_lead_time_are_continued_and_totals_never_negative() -> None:
    paths = np.full((5, 6), np.nan)
    paths[:, :3] = -10.0  # every day would go negative
    got = lead_time_demand_quantiles(np.full(6, 1.0), paths, 1.0, 6, (50, 90))
    assert got == {50: 0.0, 90: 0.0}
    with pytest.raises(ValueError, match="lead_time"):
        lead_time_demand_quantiles(np.ones(3), paths, 1.0, 4)


def test_a_chunk_gives_lead_time_quantiles_per_series() -> None:
    rng = np.random.default_rng(3)
    frame = pd.concat([S.series(f"s{i}", S.seasonal(rng, level=10)) for i in range(4)])
    result = forecast_chunk(frame, ForecastConfig(horizon=14, freq="D"))
    got = result.lead_time_quantiles("s1", 7)
    week = result.forecasts[result.forecasts["unique_id"] == "s1"].head(7)
    assert got[10] < week["mean"].sum() < got[90]
    assert got[90] - got[10] < (week["p90"] - week["p10"]).sum()
    with pytest.raises(KeyError):
        result.lead_time_quantiles("nope", 7)
