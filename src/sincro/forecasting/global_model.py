"""The global candidate: one LightGBM model (through mlforecast) trained across a group of
series, with exogenous features, offered to large groups next to the per-series models.

What it sees, per series and day:

- the target divided by the series' level (its mean on usable days), so series of every
  size share one model; predictions are multiplied back;
- lags (1, one season, two seasons) and rolling means of the last season and of the same
  phase over four seasons; the day of the week and the month (daily data), the month
  (weekly and monthly data);
- the chunk's event columns: promotion flags (a catalog offer's days), Brazilian holidays
  and Black Friday (``calendar``), and ``stockout`` (1 on a censored day).

Unlike the statistical candidates, which see a baseline with event and stock-out days
imputed, it trains on what was actually sold: the promotion uplift and the stock-out dip are
learnt from the features. For the future, planned events come from ``future`` (calendar
events are computed) and ``stockout`` is 0: it forecasts demand, not constrained sales. Its
forecast already holds the events' effect, so the engine's uplift is not applied on top.

The backtest is the engine's rolling origin (the same windows, refitted per window, each
series cut at its own end), so it is scored like every other candidate on the same days and
wins a series only where it does better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

NAME = "LightGBM"
STOCKOUT = "stockout"


def _model(season: int, freq: str, seed: int = 0) -> Any:
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    lags = sorted({1, season, 2 * season}) if season > 1 else [1, 2, 4]
    transforms: dict[int, list[Any]] = {1: [RollingMean(window_size=max(season, 4))]}
    if season > 1:
        transforms[season] = [RollingMean(window_size=4 * season)]
    base = freq.split("-")[0].lstrip("0123456789")
    dates: list[str] = ["dayofweek", "month"] if base in ("D", "B") else ["month"]
    regressor = LGBMRegressor(
        n_estimators=150,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=20,
        subsample=0.9,
        subsample_freq=1,
        n_jobs=1,  # one process per core already: chunks scale out, not threads
        random_state=seed,
        verbose=-1,
    )
    return MLForecast(
        models={NAME: regressor},
        freq=freq,
        lags=lags,
        lag_transforms=transforms,
        date_features=dates,
    )


def training_frame(
    df: pd.DataFrame, ids: Sequence[str], scales: Mapping[str, float], features: Sequence[str]
) -> pd.DataFrame:
    """``unique_id, ds, y`` (what sold, over the series' level) and the features, for ``ids``."""
    part = df[df["unique_id"].isin(list(ids))]
    out = pd.DataFrame(
        {
            "unique_id": part["unique_id"].to_numpy(),
            "ds": part["ds"].to_numpy(),
            "y": part["y_raw"].to_numpy() / part["unique_id"].map(scales).to_numpy(),
        }
    )
    for name in features:
        out[name] = part[name].to_numpy(dtype=float)
    return out


def backtest(
    train: pd.DataFrame,
    members: Sequence[str],
    h: int,
    windows: int,
    season: int,
    freq: str,
    features: Sequence[str],
) -> np.ndarray:
    """Predictions (scaled) of each member in each window, ``members × windows·h``; each
    window refits on every series cut ``(windows − w)·h`` periods before its own end."""
    out = np.full((len(members), windows * h), np.nan)
    position = train.groupby("unique_id", sort=False).cumcount(ascending=False)
    for w in range(windows):
        cut = (windows - w) * h
        fit_part = train[position >= cut]
        ahead = train[(position < cut) & (position >= cut - h)]
        predicted = _fit_predict(fit_part, ahead, h, season, freq, features, members)
        out[:, w * h : (w + 1) * h] = predicted
    return out


def forecast(
    train: pd.DataFrame,
    future: pd.DataFrame,
    h: int,
    season: int,
    freq: str,
    features: Sequence[str],
    ids: Sequence[str],
) -> np.ndarray:
    """Predictions (scaled) of ``ids`` over the ``h`` periods of ``future`` (``unique_id,
    ds`` and the features), fitted on every series of ``train``."""
    return _fit_predict(train, future, h, season, freq, features, ids)


def _fit_predict(
    fit_part: pd.DataFrame,
    ahead: pd.DataFrame,
    h: int,
    season: int,
    freq: str,
    features: Sequence[str],
    ids: Sequence[str],
) -> np.ndarray:
    model = _model(season, freq)
    model.fit(fit_part, static_features=[])
    exog = ahead[["unique_id", "ds", *features]] if features else None
    wanted = [u for u in ids if u in set(fit_part["unique_id"])]
    predicted = model.predict(h, X_df=exog, ids=wanted)
    table = predicted.pivot(index="unique_id", columns="ds", values=NAME)
    out = np.full((len(ids), h), np.nan)
    for i, uid in enumerate(ids):
        if uid in table.index:
            row = table.loc[uid].dropna().to_numpy(dtype=float)
            out[i, : min(h, row.size)] = row[:h]
    return out
