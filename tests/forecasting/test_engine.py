"""The engine on small synthetic series: the right model class wins, censored days are not
zero demand, quantiles are ordered and non-negative, failing models fall back, flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import Naive

from sincro.forecasting import engine, patterns as P
from sincro.forecasting.engine import ForecastConfig, forecast_chunk
from tests.forecasting import synthetic as S


def test_a_seasonal_series_is_won_by_a_seasonal_model_not_by_naive() -> None:
    rng = np.random.default_rng(11)
    frame = pd.concat([S.series(f"s{i}", S.seasonal(rng)) for i in range(3)])
    routing = {P.SMOOTH: ("Naive", "HistoricAverage", "ETS_ANA", "SeasonalNaive")}
    result = forecast_chunk(frame, ForecastConfig(horizon=14, freq="D", candidates=routing))
    assert set(result.series["pattern"]) == {P.SMOOTH}
    assert set(result.series["champion"]) <= {"ETS_ANA", "SeasonalNaive"}
    scores = result.backtest.pivot(index="unique_id", columns="model", values="mase")
    assert (scores[["ETS_ANA", "SeasonalNaive"]].min(axis=1) < scores["Naive"]).all()
    # the forecast keeps the weekly shape: the busiest weekday stays the busiest
    one = result.forecasts[result.forecasts["unique_id"] == "s0"]
    assert one.loc[one["mean"].idxmax(), "ds"].dayofweek == int(np.argmax(S.WEEK))


def test_intermittent_series_are_routed_to_intermittent_methods() -> None:
    rng = np.random.default_rng(5)
    frame = pd.concat([S.series(f"i{i}", S.intermittent(rng)) for i in range(4)])
    result = forecast_chunk(frame, ForecastConfig(horizon=14, freq="D"))
    assert set(result.series["pattern"]) == {P.INTERMITTENT}
    assert set(result.series["champion"]) <= {"CrostonSBA", "TSB", "IMAPA", "ADIDA"}
    assert set(result.backtest["model"]) == {"CrostonSBA", "TSB", "IMAPA", "ADIDA"}
    assert (result.series["mase"] > 0).all() and (result.series["sql"] > 0).all()


def _stockout_frame(censored: bool) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    y = rng.poisson(10, 200).astype(float)
    y[-21:] = 0.0  # the shelf was empty: recorded sales are zero
    frame = S.series("sku", y)
    if censored:
        frame["censored"] = np.r_[np.zeros(179, dtype=bool), np.ones(21, dtype=bool)]
    return frame


def test_censored_stockout_days_do_not_drag_the_forecast_to_zero() -> None:
    config = ForecastConfig(horizon=7, freq="D")
    masked = forecast_chunk(_stockout_frame(censored=True), config)
    naive = forecast_chunk(_stockout_frame(censored=False), config)
    assert masked.forecasts["mean"].mean() == pytest.approx(10, abs=2)
    assert masked.forecasts["p50"].mean() > 7
    assert naive.forecasts["mean"].mean() < 4  # what the mask prevents
    info = masked.series.iloc[0]
    assert info["censored"] == 21 and info["pattern"] == P.SMOOTH


def test_quantiles_are_ordered_and_never_negative() -> None:
    rng = np.random.default_rng(8)
    frame = pd.concat(
        [
            S.series("smooth", S.seasonal(rng, level=3)),
            S.series("erratic", S.erratic(rng)),
            S.series("intermittent", S.intermittent(rng)),
            S.series("lumpy", S.lumpy(rng)),
            S.series("new", np.array([0, 0, 3, 1, 0, 2.0])),
        ]
    )
    result = forecast_chunk(frame, ForecastConfig(horizon=10, freq="D", levels=(95, 5, 50, 25)))
    q = result.forecasts[["p5", "p25", "p50", "p95"]].to_numpy()
    assert np.isfinite(q).all() and (q >= 0).all()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (q[:, -1] > q[:, 0]).any()
    assert len(result.forecasts) == 5 * 10


def test_a_too_short_series_is_forecast_by_a_fallback_and_flagged() -> None:
    frame = S.series("new", np.array([4.0, 5, 6, 5, 4]))
    result = forecast_chunk(frame, ForecastConfig(horizon=3, freq="D"))
    info = result.series.iloc[0]
    assert info["pattern"] == P.SHORT and info["flags"] == "short"
    assert info["champion"] == "Naive"
    assert result.forecasts["mean"].tolist() == [4.0, 4.0, 4.0]
    assert result.forecasts["ds"].iloc[0] == pd.Timestamp("2024-01-06")


class Fragile(Naive):
    """A model that breaks on big series (as a real one may on odd data)."""

    def _check(self, y: np.ndarray) -> None:
        if np.mean(y) > 50:
            raise RuntimeError("cannot fit")

    def fit(self, y, X=None):  # type: ignore[no-untyped-def]
        self._check(y)
        return super().fit(y, X)

    def forecast(self, y, h, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._check(y)
        return super().forecast(y, h, *args, **kwargs)


def _fragile_config(*candidates: str) -> ForecastConfig:
    return ForecastConfig(
        horizon=7,
        freq="D",
        candidates={P.SMOOTH: candidates},
        extra_models={"Fragile": lambda season: Fragile()},
    )


def test_a_model_failing_on_one_series_is_flagged_there_and_others_win() -> None:
    rng = np.random.default_rng(4)
    frame = pd.concat(
        [S.series("small", S.seasonal(rng, level=5)), S.series("big", S.seasonal(rng, level=200))]
    )
    result = forecast_chunk(frame, _fragile_config("Fragile", "SeasonalNaive"))
    by_id = result.series.set_index("unique_id")
    assert by_id.loc["big", "flags"] == "failed:Fragile"
    assert by_id.loc["big", "champion"] == "SeasonalNaive"
    assert by_id.loc["small", "flags"] == ""
    tried = result.backtest.set_index(["unique_id", "model"])["mase"]
    assert np.isnan(tried[("big", "Fragile")]) and np.isfinite(tried[("small", "Fragile")])


def test_when_every_candidate_fails_the_fallback_forecasts_and_says_so() -> None:
    rng = np.random.default_rng(4)
    frame = S.series("big", S.seasonal(rng, level=200))
    result = forecast_chunk(frame, _fragile_config("Fragile"))
    info = result.series.iloc[0]
    assert info["flags"] == "failed:Fragile,fallback"
    assert info["champion"] == "SeasonalNaive"
    assert np.isfinite(result.forecasts[["mean", "p10", "p90"]].to_numpy()).all()


def test_monthly_data_and_combinations() -> None:
    rng = np.random.default_rng(9)
    months = 12 * 8
    trend = np.linspace(100, 180, months) * np.resize(1 + 0.3 * np.sin(np.arange(12)), months)
    frame = S.series("m", trend + rng.normal(0, 3, months), start="2015-01-01", freq="MS")
    result = forecast_chunk(frame, ForecastConfig(horizon=12, freq="MS"))
    assert set(result.backtest["model"]) == set(engine.FULL_CANDIDATES[P.SMOOTH])
    assert result.series.iloc[0]["champion"] != "SeasonalNaive"  # the trend beats it
    assert result.forecasts["ds"].iloc[0] == pd.Timestamp("2023-01-01")


def test_library_warm_up_is_paid_once_per_process() -> None:
    engine._WARM = False
    assert engine.warm_up() > 0
    assert engine.warm_up() == 0.0


def test_iter_chunks_keeps_series_whole() -> None:
    rng = np.random.default_rng(1)
    frame = pd.concat([S.series(f"x{i}", S.intermittent(rng, n=30)) for i in range(7)])
    chunks = list(engine.iter_chunks(frame, 3))
    assert [c["unique_id"].nunique() for c in chunks] == [3, 3, 1]
    assert sum(len(c) for c in chunks) == len(frame)


def test_calibration_errors_come_from_the_model_chosen_on_the_other_windows() -> None:
    # A is right on window 0 and wrong on window 1, B the other way round
    errors = {
        "A": np.array([[[0.1, 0.1], [5.0, 5.0]]]),
        "B": np.array([[[3.0, 3.0], [0.2, 0.2]]]),
    }
    usable = np.array([1.0, 1.0])
    paths = engine._honest_paths(errors, ["A", "B"], usable, 0, "A")
    # window 0 is scored with B (the winner on window 1) and window 1 with A
    assert paths.tolist() == [[3.0, 3.0], [5.0, 5.0]]
    # a failed candidate is never used
    paths = engine._honest_paths(errors, ["A", "B"], np.array([1.0, np.inf]), 0, "A")
    assert paths.tolist() == [[0.1, 0.1], [5.0, 5.0]]


def test_p10_p90_cover_about_eighty_percent_of_held_out_days() -> None:
    rng = np.random.default_rng(21)
    frame = pd.concat([S.series(f"s{i}", S.seasonal(rng, n=182, level=8)) for i in range(30)])
    cutoff = pd.Timestamp("2024-01-01") + pd.Timedelta(days=168)
    train, test = frame[frame["ds"] < cutoff], frame[frame["ds"] >= cutoff]
    result = forecast_chunk(train, ForecastConfig(horizon=14, freq="D"))
    scored = result.forecasts.merge(test, on=["unique_id", "ds"])
    assert len(scored) == 30 * 14
    inside = ((scored["y"] >= scored["p10"]) & (scored["y"] <= scored["p90"])).mean()
    assert 0.7 <= inside <= 0.9
    below_median = (scored["y"] <= scored["p50"]).mean()
    assert 0.4 <= below_median <= 0.65
