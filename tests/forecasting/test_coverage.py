"""Interval coverage recorded per series and run: each backtest window is judged by the
interval calibrated on the other windows (never on itself), pooled per pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sincro.forecasting import engine, patterns as P
from sincro.forecasting.engine import ForecastConfig, forecast_chunk
from tests.forecasting import synthetic as S


def test_each_window_is_judged_by_the_other_windows_calibration() -> None:
    # window 0: no error at all; window 1: errors of ±3 scale units
    errors = np.zeros((40, 2, 5))
    errors[:, 1, :] = np.where(np.arange(40)[:, None] % 2 == 0, 3.0, -3.0)
    actual = np.full((40, 2, 5), 10.0)
    entries = [(f"s{i}", errors[i], actual[i]) for i in range(40)]
    got = {
        uid: (inside, n) for uid, inside, n in engine._window_coverage(entries, (10, 90), 30, True)
    }
    # window 0 judged by window 1's wide interval: all inside; window 1 by window 0's
    # zero-width interval: all outside. Calibrating on the window itself would give 100%.
    assert all(v == (5, 10) for v in got.values())


def test_censored_actuals_are_not_scored_and_zero_clipping_is_honoured() -> None:
    errors = np.array([[[0.5, 0.5], [-0.5, -0.5]], [[0.5, 0.5], [-0.5, -0.5]]])
    actual = np.array([[[0.0, np.nan], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    got = list(
        engine._window_coverage(
            [("a", errors[0], actual[0]), ("b", errors[1], actual[1])], (10, 90), 1, True
        )
    )
    # forecast −0.5 (window 0) clipped to 0 covers a 0 sale; window 1: forecast 0.5, offsets
    # from window 0 are +0.5 → interval [1, 1] misses 0
    assert got == [("a", 1, 3), ("b", 2, 4)]


def test_calibrated_series_cover_about_eighty_percent_and_the_summary_pools_them() -> None:
    rng = np.random.default_rng(3)
    frame = pd.concat([S.series(f"s{i}", S.seasonal(rng, n=140)) for i in range(30)])
    config = ForecastConfig(
        horizon=14, freq="D", n_windows=3, candidates={P.SMOOTH: ("SeasonalES", "SeasonalNaive")}
    )
    result = forecast_chunk(frame, config)
    series = result.series
    assert (series["coverage_points"] == 3 * 14).all()
    assert series["coverage"].between(0, 1).all()
    pooled = engine.pooled_coverage(series["coverage"], series["coverage_points"])
    assert 0.7 <= pooled <= 0.9  # Poisson noise, same-shaped windows: close to nominal 80%
    summary = engine.backtest_summary(result)
    chosen = summary[summary["model"] == "champion"].iloc[0]
    assert chosen["coverage"] == pytest.approx(pooled)


def test_one_window_or_one_level_records_no_coverage() -> None:
    rng = np.random.default_rng(4)
    frame = pd.concat([S.series(f"s{i}", S.seasonal(rng, n=100)) for i in range(3)])
    one_window = forecast_chunk(frame, ForecastConfig(horizon=7, freq="D", n_windows=1))
    assert one_window.series["coverage"].isna().all()
    assert (one_window.series["coverage_points"] == 0).all()
    assert engine.coverage_interval((50,)) is None
    assert engine.coverage_interval((5, 50, 95)) == (5.0, 95.0)
    assert engine.coverage_interval((5, 10, 50, 90, 95)) == (10.0, 90.0)
