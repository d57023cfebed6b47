"""The forecasting engine: route each series to candidates by pattern, backtest, pick a
champion, forecast it and give calibrated quantiles. Pure: data frames in, data frames out.

One call of :func:`forecast_chunk` handles a bounded set of series (the run layer and the CSV
command slice bigger inputs into chunks), so memory is bounded by the chunk size, not by the
number of series. The libraries are imported once per process (:func:`warm_up`).

Steps for a chunk (long frame ``unique_id, ds, y`` with an optional boolean ``censored``):

1. *Censored days* (stock-outs) are masked, then imputed by the series' level there (the
   mean of the usable days at the same phase of the season, 1–3 seasons either side), so a
   stock-out does not teach a model that nobody wanted the product; censored days are also
   left out of classification and of every backtest score. *Event days* (``events``
   columns such as a promotion flag, and with ``calendar`` Brazilian holidays and Black
   Friday) are masked the same way so the models learn the baseline; each event's uplift
   (what event days sold over the imputed baseline, pooled per pattern over the chunk) then
   multiplies the forecast on future event days (planned ones given in ``future``).
2. Leading zeros (before the first sale) are dropped; ``max_history`` keeps the latest part.
3. Each series gets its pattern (:mod:`sincro.forecasting.patterns`); one that cannot host a
   backtest (``min_train + n_windows`` periods) is ``short`` and is forecast by a fallback.
4. Rolling-origin backtest, ``n_windows`` windows of ``h`` steps (shorter windows for series
   that cannot hold ``h``), one library call per candidate model and group, timed.
5. Champion per series by ``(MASE + scaled quantile loss) / 2``; candidates may be
   combinations (``"AutoETS+AutoTheta"``: the mean of the members, scored like any model).
   A model that raises or returns a non-finite value on a series is out for that series
   (flagged ``failed:<model>``); if every candidate fails, a numpy fallback (never fails)
   forecasts it (flagged ``fallback``).
6. Quantiles: conformal from backtest errors, scaled by each series' MASE scale and pooled
   per pattern and horizon step: ``q = point + scale · Q_level(errors)``, clipped at zero for
   non-negative data. The errors of each window are those of the candidate that wins on the
   *other* windows (cross-conformal): the champion's own errors on the windows that chose it
   are optimistic and gave intervals covering 66–75% instead of 80% (docs/benchmarks.md).
   The same scaled error *paths* are kept to sample the total over a lead time
   (:func:`lead_time_demand_quantiles`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from sincro.forecasting import global_model as G, patterns as P
from sincro.forecasting.calendar_br import EVENT_COLUMNS, calendar_events

DEFAULT_LEVELS: tuple[int, ...] = (10, 50, 90)

ModelFactory = Callable[[int], Any]


def _statsforecast_models() -> dict[str, ModelFactory]:
    from statsforecast import models as m

    return {
        "AutoETS": lambda s: m.AutoETS(season_length=s),
        "ETS_ANA": lambda s: m.AutoETS(season_length=s, model="ANA" if s > 1 else "ANN"),
        "OptimizedTheta": lambda s: m.OptimizedTheta(season_length=s),
        "SeasonalES": lambda s: m.SeasonalExponentialSmoothingOptimized(season_length=s),
        "AutoTheta": lambda s: m.AutoTheta(season_length=s),
        "AutoARIMA": lambda s: m.AutoARIMA(season_length=s),
        "MSTL": lambda s: m.MSTL(season_length=s),
        "SeasonalNaive": lambda s: m.SeasonalNaive(season_length=s),
        "Naive": lambda s: m.Naive(),
        "HistoricAverage": lambda s: m.HistoricAverage(),
        "WindowAverage": lambda s: m.WindowAverage(window_size=max(s, 4)),
        "CrostonSBA": lambda s: m.CrostonSBA(),
        "TSB": lambda s: m.TSB(alpha_d=0.1, alpha_p=0.1),
        "IMAPA": lambda s: m.IMAPA(),
        "ADIDA": lambda s: m.ADIDA(),
    }


# Candidate sets per pattern, chosen by the measurements in docs/benchmarks.md. Long
# high-frequency series (daily) get the cheap forms: AutoETS searching every ETS form costs
# ~420 ms a fit on 730 days against ~27 ms for ETS(A,N,A) (zeros rule out multiplicative
# errors anyway), AutoTheta ~110 ms against ~31 ms for the optimized Theta, seasonal
# exponential smoothing under 1 ms; AutoARIMA (~3 s) and MSTL (~70 ms) stay available but
# are not routed by default.
_INTERMITTENT = ("CrostonSBA", "TSB", "IMAPA", "ADIDA")
_FAST_SMOOTH = (
    "ETS_ANA",
    "OptimizedTheta",
    "SeasonalES",
    "SeasonalNaive",
    "ETS_ANA+OptimizedTheta",
)
FULL_CANDIDATES: Mapping[str, tuple[str, ...]] = {
    P.SMOOTH: ("AutoETS", "AutoTheta", "SeasonalNaive", "AutoETS+AutoTheta"),
    P.ERRATIC: ("AutoETS", "AutoTheta", "SeasonalNaive", "AutoETS+AutoTheta"),
    P.INTERMITTENT: _INTERMITTENT,
    P.LUMPY: _INTERMITTENT,
}
FAST_CANDIDATES: Mapping[str, tuple[str, ...]] = {
    P.SMOOTH: _FAST_SMOOTH,
    P.ERRATIC: _FAST_SMOOTH,
    P.INTERMITTENT: _INTERMITTENT,
    P.LUMPY: _INTERMITTENT,
}
_HIGH_FREQUENCY = {"D", "B", "H", "h", "min", "T", "S", "s"}


def default_candidates(freq: str) -> Mapping[str, tuple[str, ...]]:
    """The fast set for daily (and finer) data, the full one for weekly and coarser."""
    base = freq.split("-")[0].lstrip("0123456789")
    return FAST_CANDIDATES if base in _HIGH_FREQUENCY else FULL_CANDIDATES


SEASON_BY_FREQ: Mapping[str, int] = {
    "D": 7,
    "B": 5,
    "W": 52,
    "M": 12,
    "MS": 12,
    "ME": 12,
    "Q": 4,
    "QS": 4,
    "QE": 4,
    "Y": 1,
    "YS": 1,
    "YE": 1,
    "A": 1,
    "AS": 1,
    "H": 24,
    "h": 24,
}


def season_for(freq: str) -> int:
    """The seasonal period a frequency alias implies (weekly for daily data)."""
    base = freq.split("-")[0].lstrip("0123456789")
    return SEASON_BY_FREQ.get(base, 1)


@dataclass(frozen=True)
class ForecastConfig:
    horizon: int
    freq: str
    levels: tuple[int, ...] = DEFAULT_LEVELS
    season_length: int | None = None  # None: from freq
    n_windows: int = 2
    candidates: Mapping[str, tuple[str, ...]] | None = None  # None: default_candidates(freq)
    extra_models: Mapping[str, ModelFactory] = field(default_factory=dict)
    min_train: int | None = None  # None: max(2 · season, 6)
    max_history: int | None = None
    quantile_weight: float = 0.5  # champion score = (1 - w) · MASE + w · scaled quantile loss
    min_pool: int = 30  # error paths needed to calibrate each horizon step on its own
    nonnegative: bool | None = None  # None: when every observed y >= 0
    keep_paths: bool = True
    events: tuple[str, ...] = ()  # 0/1 columns of the frame (promotions…) treated as events
    calendar: bool = False  # add Brazilian holidays and Black Friday as events (daily data)
    # the global LightGBM candidate joins groups of these patterns with this many series
    global_min_series: int = 200
    global_patterns: tuple[str, ...] = (P.SMOOTH, P.ERRATIC)

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon must be at least 1")
        if self.n_windows < 1:
            raise ValueError("n_windows must be at least 1")
        for level in self.levels:
            if not 0 < level < 100:
                raise ValueError(f"quantile level {level} is not between 0 and 100")
        object.__setattr__(self, "levels", tuple(sorted(set(self.levels))))

    @property
    def season(self) -> int:
        return self.season_length or season_for(self.freq)

    @property
    def routing(self) -> Mapping[str, tuple[str, ...]]:
        return self.candidates if self.candidates is not None else default_candidates(self.freq)

    @property
    def train_floor(self) -> int:
        return self.min_train if self.min_train is not None else max(2 * self.season, 6)


@dataclass
class ChunkResult:
    """Forecasts and what the run layer records about them.

    - ``forecasts``: ``unique_id, ds, model, mean, p<level>…`` (``horizon`` rows a series);
    - ``series``: one row a series: ``pattern, adi, cv2, observed, censored, champion, mase,
      sql, scale, coverage, coverage_points, flags`` (``short``, ``fallback``,
      ``failed:<model>``); ``coverage`` is the share of the backtest actuals (``points``
      scored) inside the P10–P90 interval (:func:`coverage_interval`), each window judged by
      an interval calibrated on the other windows;
    - ``backtest``: one row a series and candidate: ``mase, sql, score``;
    - ``paths``: per pattern, the champion's scaled backtest error paths (``n × horizon``,
      NaN past a shorter window), for lead-time sampling;
    - ``seconds``: library CPU time per model (backtest and final fit);
    - ``uplift``: per pattern, each event's multiplier estimated from the history.
    """

    forecasts: pd.DataFrame
    series: pd.DataFrame
    backtest: pd.DataFrame
    paths: dict[str, np.ndarray]
    seconds: dict[str, float]
    levels: tuple[int, ...]
    uplift: dict[str, dict[str, float]] = field(default_factory=dict)

    def lead_time_quantiles(
        self,
        unique_id: str,
        lead_time: int,
        levels: Sequence[float] | None = None,
        *,
        n_samples: int = 2000,
        seed: int = 0,
    ) -> dict[float, float]:
        """Quantiles of one series' total demand over its next ``lead_time`` periods."""
        row = self.series.loc[self.series["unique_id"] == unique_id]
        if row.empty:
            raise KeyError(unique_id)
        info = row.iloc[0]
        mean = self.forecasts.loc[self.forecasts["unique_id"] == unique_id, "mean"].to_numpy()
        pool = self.paths.get(str(info["pattern"]))
        if pool is None or pool.size == 0:
            pool = np.concatenate([p for p in self.paths.values() if p.size] or [np.zeros((1, 1))])
        return lead_time_demand_quantiles(
            mean,
            pool,
            float(info["scale"]),
            lead_time,
            levels or self.levels,
            n_samples=n_samples,
            seed=seed,
        )


# --------------------------------------------------------------------------- process warm-up

_WARM = False


def warm_up() -> float:
    """Import the libraries and fit once (paid once per process); returns the seconds spent."""
    global _WARM
    if _WARM:
        return 0.0
    started = time.perf_counter()
    day = pd.date_range("2024-01-01", periods=60, freq="D")
    y = np.r_[np.tile([3.0, 4, 5, 4, 6, 9, 8], 8), [3.0, 4, 5, 4]]
    frame = pd.DataFrame({"unique_id": "warm", "ds": day, "y": y})
    forecast_chunk(frame, ForecastConfig(horizon=7, freq="D", keep_paths=False))
    _WARM = True
    return time.perf_counter() - started


# --------------------------------------------------------------------------- preparation


def _prepare(frame: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    """Sorted ``unique_id, ds, y, censored, y_obs`` with leading zeros and old history cut
    and censored days imputed (``y`` what the models see, ``y_obs`` NaN where censored)."""
    missing = {"unique_id", "ds", "y"} - set(frame.columns)
    if missing:
        raise ValueError(f"missing columns: {', '.join(sorted(missing))}")
    df = pd.DataFrame(
        {
            "unique_id": frame["unique_id"].astype(str).to_numpy(),
            "ds": pd.to_datetime(frame["ds"]).to_numpy(),
            "y": frame["y"].astype(float).to_numpy(),
            "censored": (
                frame["censored"].fillna(False).astype(bool).to_numpy()
                if "censored" in frame.columns
                else np.zeros(len(frame), dtype=bool)
            ),
        }
    )
    for column in config.events:
        if column not in frame.columns:
            raise ValueError(f"missing event column: {column}")
        df[column] = frame[column].fillna(0).astype(float).to_numpy()
    if config.calendar:
        df = df.join(calendar_events(df["ds"]))
    df = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    # leading zeros (and leading censored days): not launched yet
    started = (df["y"].gt(0) & ~df["censored"]).groupby(df["unique_id"], sort=False).cummax()
    any_sale = started.groupby(df["unique_id"], sort=False).transform("any")
    df = df[started | ~any_sale]
    if config.max_history:
        df = df.groupby("unique_id", sort=False).tail(config.max_history)
    df = df.reset_index(drop=True)
    df["y_raw"] = df["y"]  # what sold, for the global model (it learns events and stock-outs)
    df["y_obs"] = df["y"].where(~df["censored"])
    events = _event_columns(config)
    df["event"] = df[list(events)].gt(0).any(axis=1) if events else False
    df["y_event"] = df["y_obs"].where(df["event"])  # what event days sold, for the uplift
    # the models learn the baseline: event days are masked like stock-outs (and not scored)
    df["y_obs"] = df["y_obs"].where(~df["event"])
    if (df["censored"] | df["event"]).any():
        df["y"] = _impute_censored(df, config.season)
    return df


def _event_columns(config: ForecastConfig) -> tuple[str, ...]:
    return (*config.events, *(EVENT_COLUMNS if config.calendar else ()))


def _uplifts(df: pd.DataFrame, patterns: Mapping[str, str], events: Sequence[str]) -> dict:
    """Per pattern and event: what event days sold over the baseline imputed for them
    (pooled over the chunk's series of the pattern); 1 without enough evidence."""
    out: dict[str, dict[str, float]] = {}
    pattern = df["unique_id"].map(patterns)
    for name in events:
        flagged = df[name].gt(0) & df["y_event"].notna()
        sold = df["y_event"].where(flagged).groupby(pattern).sum()
        base = df["y"].where(flagged).groupby(pattern).sum()
        days = flagged.groupby(pattern).sum()
        for key in days.index:
            ratio = float(sold[key] / base[key]) if base[key] > 0 else 1.0
            enough = days[key] >= 5 and base[key] >= 5
            out.setdefault(str(key), {})[name] = min(max(ratio, 0.2), 10.0) if enough else 1.0
    return out


def _impute_censored(df: pd.DataFrame, season: int) -> pd.Series:
    """Censored and event days' ``y`` replaced by the series' level there: the mean of the
    usable values at the same phase of the season 1–3 seasons either side (same weekday for
    daily data), else of the usable values within two seasons, else the series' mean."""
    observed = df["y_obs"]
    by_series = observed.groupby(df["unique_id"], sort=False)
    lag = max(season, 1)
    same_phase = [by_series.shift(k * lag) for k in (-3, -2, -1, 1, 2, 3)]
    phase = pd.concat(same_phase, axis=1).mean(axis=1, skipna=True)
    window = 4 * lag + 1
    local_sum = (
        observed.fillna(0.0)
        .groupby(df["unique_id"], sort=False)
        .transform(lambda s: s.rolling(window, center=True, min_periods=1).sum())
    )
    local_cnt = (
        observed.notna()
        .astype(float)
        .groupby(df["unique_id"], sort=False)
        .transform(lambda s: s.rolling(window, center=True, min_periods=1).sum())
    )
    local = (local_sum / local_cnt.replace(0.0, np.nan)).where(local_cnt > 0)
    overall = by_series.transform("mean")
    fill = phase.fillna(local).fillna(overall).fillna(0.0)
    return df["y"].where(~(df["censored"] | df["event"]), fill)


def _scale(y: np.ndarray, season: int) -> float:
    """MASE denominator: in-sample MAE of the seasonal naive (lag 1 when too short)."""
    lag = season if y.size > season else 1
    if y.size <= lag:
        level = float(np.mean(np.abs(y))) if y.size else 0.0
        return level if level > 0 else 1.0
    value = float(np.mean(np.abs(y[lag:] - y[:-lag])))
    if value > 0:
        return value
    level = float(np.mean(np.abs(y)))
    return level if level > 0 else 1.0


# --------------------------------------------------------------------------- model calls


def _factories(config: ForecastConfig) -> dict[str, ModelFactory]:
    factories = _statsforecast_models()
    factories.update(config.extra_models)
    return factories


def _members(candidate: str) -> tuple[str, ...]:
    return tuple(candidate.split("+"))


def _make(name: str, factories: Mapping[str, ModelFactory], season: int) -> Any:
    try:
        model = factories[name](season)
    except KeyError:
        raise ValueError(f"unknown model {name!r}") from None
    model.alias = name
    return model


def _run(
    call: Callable[..., pd.DataFrame],
    df: pd.DataFrame,
    name: str,
    uids: list[str],
    rows_per_series: int,
) -> tuple[np.ndarray, set[str]]:
    """Run a model over ``df`` (all of ``uids``); on an error, series by series. Returns the
    predictions (``len(uids) × rows_per_series``, NaN where failed) and the failed ids."""
    try:
        out = call(df=df)
        values = _reshape(out, name, len(uids), rows_per_series)
    except Exception:
        values = np.full((len(uids), rows_per_series), np.nan)
        for i, (_uid, part) in enumerate(df.groupby("unique_id", sort=True)):
            try:
                values[i] = _reshape(call(df=part), name, 1, rows_per_series)[0]
            except Exception:
                continue
    bad = ~np.isfinite(values).all(axis=1)
    return values, {uids[i] for i in np.flatnonzero(bad)}


def _reshape(out: pd.DataFrame, name: str, n: int, rows: int) -> np.ndarray:
    keys = ["unique_id", "cutoff", "ds"] if "cutoff" in out.columns else ["unique_id", "ds"]
    ordered = out.sort_values(keys, kind="stable")
    return ordered[name].to_numpy(dtype=float).reshape(n, rows)


def _statsforecast(models: list[Any], freq: str) -> Any:
    from statsforecast import StatsForecast

    return StatsForecast(models=models, freq=freq, n_jobs=1)


# --------------------------------------------------------------------------- the global model


def _group_candidates(config: ForecastConfig, pattern: str, size: int) -> tuple[str, ...]:
    """The routed candidates of a group, plus the global model for a large enough group of
    its patterns (it must then win series on the backtest like any candidate)."""
    candidates = tuple(config.routing.get(pattern, ()))
    large = size >= config.global_min_series and pattern in config.global_patterns
    if candidates and large and G.NAME not in candidates:
        candidates = (*candidates, G.NAME)
    return candidates


def _global_features(config: ForecastConfig) -> tuple[str, ...]:
    return (*_event_columns(config), G.STOCKOUT)


def _global_backtest(
    df: pd.DataFrame,
    members: list[str],
    info: Mapping[str, Mapping[str, Any]],
    bt_h: int,
    config: ForecastConfig,
    features: Sequence[str],
) -> tuple[np.ndarray, set[str]]:
    """The global model's backtest predictions in units (``members × windows·bt_h``) and
    the series it failed on (all of them if the library raised)."""
    scales = _levels(df, members, info)
    try:
        train = G.training_frame(_with_stockout(df), members, scales, features)
        values = G.backtest(
            train, members, bt_h, config.n_windows, config.season, config.freq, features
        )
    except Exception:
        return np.full((len(members), config.n_windows * bt_h), np.nan), set(members)
    values = values * np.array([scales[u] for u in members])[:, None]
    bad = ~np.isfinite(values).all(axis=1)
    return values, {members[i] for i in np.flatnonzero(bad)}


def _global_forecast(
    df: pd.DataFrame,
    members: list[str],
    trained_on: list[str],
    info: Mapping[str, Mapping[str, Any]],
    last_seen: Mapping[str, pd.Timestamp],
    future_events: pd.DataFrame | None,
    config: ForecastConfig,
    features: Sequence[str],
) -> tuple[np.ndarray, set[str]]:
    """The global model fitted on its groups' series, forecasting ``members`` (units)."""
    h = config.horizon
    ids = sorted(set(trained_on) | set(members))
    scales = _levels(df, ids, info)
    dates = _future_dates({u: last_seen[u] for u in members}, h, config.freq)
    ahead = pd.DataFrame(
        {
            "unique_id": np.repeat(members, h),
            "ds": np.concatenate([dates[u] for u in members]),
        }
    )
    if config.calendar:
        ahead = ahead.join(calendar_events(ahead["ds"]))
    for name in config.events:
        ahead[name] = 0.0
        if future_events is not None and name in future_events.columns:
            planned = future_events.assign(
                unique_id=future_events["unique_id"].astype(str),
                ds=pd.to_datetime(future_events["ds"]),
            )[["unique_id", "ds", name]]
            keyed = ahead[["unique_id", "ds"]].merge(planned, on=["unique_id", "ds"], how="left")
            ahead[name] = keyed[name].fillna(0.0).astype(float).to_numpy()
    ahead[G.STOCKOUT] = 0.0  # demand, not what an empty shelf would have sold
    try:
        train = G.training_frame(_with_stockout(df), ids, scales, features)
        values = G.forecast(train, ahead, h, config.season, config.freq, features, members)
    except Exception:
        return np.full((len(members), h), np.nan), set(members)
    values = values * np.array([scales[u] for u in members])[:, None]
    bad = ~np.isfinite(values).all(axis=1)
    return values, {members[i] for i in np.flatnonzero(bad)}


def _levels(
    df: pd.DataFrame, ids: Sequence[str], info: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    """Each series' level (mean of its usable days, else its MASE scale): the global model
    learns every series in units of its own level, so sizes do not split the trees."""
    part = df[df["unique_id"].isin(list(ids))]
    means = part.groupby("unique_id", sort=False)["y_obs"].mean()
    out = {}
    for uid in ids:
        level = float(means.get(uid, np.nan))
        out[uid] = level if level > 0 else float(info[uid]["scale"])
    return out


def _with_stockout(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(**{G.STOCKOUT: df["censored"].astype(float)})


# --------------------------------------------------------------------------- the chunk


def forecast_chunk(
    frame: pd.DataFrame,
    config: ForecastConfig,
    progress: Callable[[int], None] | None = None,
    future: pd.DataFrame | None = None,
) -> ChunkResult:
    """Forecast every series of ``frame`` (see the module's docstring): what one Celery task
    does with one chunk. ``progress(n)`` is told the series done. ``future`` (``unique_id,
    ds`` and the event columns) gives planned events over the horizon; absent ones are 0."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # the libraries warn on degenerate fits (a flat series, a window all censored);
        # those series are scored NaN and flagged, the warnings would only be noise
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _forecast_chunk(frame, config, progress, future)


def _forecast_chunk(
    frame: pd.DataFrame,
    config: ForecastConfig,
    progress: Callable[[int], None] | None,
    future_events: pd.DataFrame | None,
) -> ChunkResult:
    seconds: dict[str, float] = {}
    df = _prepare(frame, config)
    season, h, windows = config.season, config.horizon, config.n_windows
    nonnegative = (
        config.nonnegative if config.nonnegative is not None else bool((df["y"] >= 0).all())
    )
    factories = _factories(config)
    by_id = {uid: g for uid, g in df.groupby("unique_id", sort=True)}
    uids = list(by_id)

    info = {}
    for uid, g in by_id.items():
        c = P.classify(g["y_obs"].to_numpy(), None, min_observed=1)
        n = len(g)
        bt_h = min(h, (n - config.train_floor) // windows)
        pattern = c.pattern if bt_h >= 1 and c.observed >= 1 else P.SHORT
        info[uid] = {
            "unique_id": uid,
            "pattern": pattern,
            "adi": c.adi,
            "cv2": c.cv2,
            "observed": c.observed,
            "censored": int(g["censored"].sum()),
            "bt_h": max(bt_h, 0),
            "scale": _scale(g["y"].to_numpy(), season),
            "champion": None,
            "mase": np.nan,
            "sql": np.nan,
            "coverage": np.nan,
            "coverage_points": 0,
            "flags": [],
        }

    backtest_rows: list[dict[str, Any]] = []
    paths_by_pattern: dict[str, list[np.ndarray]] = {}
    # per pattern: (uid, honest scaled error paths, scaled actuals), both windows × h
    held_out: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    champion_of: dict[str, str] = {}

    # --- backtest per (pattern, backtest horizon) group
    groups: dict[tuple[str, int], list[str]] = {}
    for uid, row in info.items():
        if row["pattern"] != P.SHORT:
            groups.setdefault((row["pattern"], row["bt_h"]), []).append(uid)
    global_ids: set[str] = set()  # series of the groups the global model was trained for
    features = _global_features(config)
    for (pattern, bt_h), members in sorted(groups.items()):
        candidates = _group_candidates(config, pattern, len(members))
        if not candidates:
            continue
        group_df = df[df["unique_id"].isin(members)][["unique_id", "ds", "y"]]
        actual = _window_actuals(by_id, members, bt_h, windows)
        scales = np.array([info[u]["scale"] for u in members])
        base_preds: dict[str, np.ndarray] = {}
        failed: dict[str, set[str]] = {}
        for base in sorted({m for c in candidates for m in _members(c)}):
            if base == G.NAME:
                started = time.process_time()
                values, bad = _global_backtest(df, members, info, bt_h, config, features)
                seconds[base] = seconds.get(base, 0.0) + time.process_time() - started
                base_preds[base] = values.reshape(len(members), windows, bt_h)
                failed[base] = bad
                global_ids.update(members)
                continue
            model = _make(base, factories, season)
            sf = _statsforecast([model], config.freq)
            started = time.process_time()
            values, bad = _run(
                partial(sf.cross_validation, h=bt_h, n_windows=windows, step_size=bt_h),
                group_df,
                base,
                sorted(members),
                windows * bt_h,
            )
            seconds[base] = seconds.get(base, 0.0) + time.process_time() - started
            base_preds[base] = values.reshape(len(members), windows, bt_h)
            failed[base] = bad
        scores = {}
        errors = {}
        sqls = {}
        for candidate in candidates:
            pred = np.mean([base_preds[m] for m in _members(candidate)], axis=0)
            if nonnegative:
                pred = np.maximum(pred, 0.0)
            err = (actual - pred) / scales[:, None, None]  # scaled errors, NaN where censored
            errors[candidate] = err
            mase = np.nanmean(np.abs(err), axis=(1, 2))
            sql = _scaled_quantile_loss(err, pred / scales[:, None, None], config, nonnegative)
            sqls[candidate] = sql
            score = (1 - config.quantile_weight) * mase + config.quantile_weight * sql
            bad_any = set().union(*(failed[m] for m in _members(candidate)))
            for i, uid in enumerate(members):
                ok = uid not in bad_any and np.isfinite(score[i])
                backtest_rows.append(
                    {
                        "unique_id": uid,
                        "pattern": pattern,
                        "model": candidate,
                        "mase": float(mase[i]) if ok else np.nan,
                        "sql": float(sql[i]) if ok else np.nan,
                        "score": float(score[i]) if ok else np.nan,
                    }
                )
            scores[candidate] = np.where(
                [u in bad_any for u in members], np.inf, np.nan_to_num(score, nan=np.inf)
            )
        for base, bad in failed.items():
            for uid in bad:
                info[uid]["flags"].append(f"failed:{base}")
        table = np.vstack([scores[c] for c in candidates])  # candidates × series
        best = np.argmin(table, axis=0)
        for i, uid in enumerate(members):
            if not np.isfinite(table[best[i], i]):
                info[uid]["flags"].append("fallback")
                continue
            winner = candidates[best[i]]
            champion_of[uid] = winner
            info[uid]["champion"] = winner
            e = errors[winner][i]
            info[uid]["mase"] = float(np.nanmean(np.abs(e)))
            info[uid]["sql"] = float(sqls[winner][i])
            padded = np.full((windows, h), np.nan)
            padded[:, :bt_h] = _honest_paths(errors, candidates, table[:, i], i, winner)
            paths_by_pattern.setdefault(pattern, []).append(padded)
            seen = np.full((windows, h), np.nan)
            seen[:, :bt_h] = actual[i] / scales[i]
            held_out.setdefault(pattern, []).append((uid, padded, seen))

    paths = {pattern: np.vstack(chunks) for pattern, chunks in paths_by_pattern.items() if chunks}
    interval = coverage_interval(config.levels)
    if interval is not None and windows >= 2:
        for entries in held_out.values():
            for uid, inside, scored in _window_coverage(
                entries, interval, config.min_pool, nonnegative
            ):
                info[uid]["coverage"] = inside / scored if scored else np.nan
                info[uid]["coverage_points"] = scored

    # --- final fit: each base model on the series whose champion needs it
    points: dict[str, np.ndarray] = {}
    needs: dict[str, list[str]] = {}
    for uid, champion in champion_of.items():
        for base in _members(champion):
            needs.setdefault(base, []).append(uid)
    base_future: dict[str, dict[str, np.ndarray]] = {}
    last_seen = {u: by_id[u]["ds"].iloc[-1] for u in uids}
    for base, members in sorted(needs.items()):
        members = sorted(members)
        if base == G.NAME:
            started = time.process_time()
            values, bad = _global_forecast(
                df, members, sorted(global_ids), info, last_seen, future_events, config, features
            )
            seconds[base] = seconds.get(base, 0.0) + time.process_time() - started
            base_future[base] = {u: values[i] for i, u in enumerate(members) if u not in bad}
            for uid in bad:
                info[uid]["flags"].append(f"failed:{base}")
            continue
        sf = _statsforecast([_make(base, factories, season)], config.freq)
        group_df = df[df["unique_id"].isin(members)][["unique_id", "ds", "y"]]
        started = time.process_time()
        values, bad = _run(partial(sf.forecast, h=h), group_df, base, members, h)
        seconds[base] = seconds.get(base, 0.0) + time.process_time() - started
        base_future[base] = {u: values[i] for i, u in enumerate(members) if u not in bad}
        for uid in bad:
            info[uid]["flags"].append(f"failed:{base}")
    for uid, champion in champion_of.items():
        parts = [base_future[b][uid] for b in _members(champion) if uid in base_future[b]]
        if len(parts) < len(_members(champion)):
            info[uid]["flags"].append("fallback")
            continue
        points[uid] = np.mean(parts, axis=0)

    # --- fallback for short series and for series no candidate could forecast
    for uid, row in info.items():
        if uid in points:
            continue
        if row["pattern"] == P.SHORT:
            row["flags"].append("short")
        name, values = _fallback(by_id[uid]["y"].to_numpy(), season, h, row["pattern"])
        points[uid] = values
        row["champion"] = name

    # --- quantiles
    quantile_by_pattern = {
        pattern: _conformal(paths[pattern], config.levels, config.min_pool) for pattern in paths
    }
    everything = np.vstack(list(paths.values())) if paths else np.empty((0, h))
    pooled = _conformal(everything, config.levels, config.min_pool) if everything.size else None
    future = _future_dates(last_seen, h, config.freq)
    blocks = []
    for uid in uids:
        row = info[uid]
        point = points[uid]
        if nonnegative:
            point = np.maximum(point, 0.0)
        offsets = quantile_by_pattern.get(row["pattern"], pooled)
        if offsets is None:
            offsets = _naive_offsets(by_id[uid]["y"].to_numpy(), row["scale"], config.levels, h)
        q = point[None, :] + row["scale"] * offsets
        if nonnegative:
            q = np.maximum(q, 0.0)
        q = np.maximum.accumulate(q, axis=0)  # ordered even where the pool is thin
        block = pd.DataFrame(
            {"unique_id": uid, "ds": future[uid], "model": row["champion"], "mean": point}
        )
        for k, level in enumerate(config.levels):
            block[_col(level)] = q[k]
        blocks.append(block)
    forecasts = pd.concat(blocks, ignore_index=True) if blocks else _empty_forecasts(config)
    events = _event_columns(config)
    uplift = _uplifts(df, {u: r["pattern"] for u, r in info.items()}, events) if events else {}
    if uplift and not forecasts.empty:
        # the global model's forecast already holds the events' effect
        learnt = {u for u, c in champion_of.items() if G.NAME in _members(c)}
        forecasts = _apply_uplift(forecasts, future_events, config, info, uplift, learnt)

    series = pd.DataFrame(
        [
            {
                **{k: v for k, v in row.items() if k not in ("flags", "bt_h")},
                "flags": ",".join(row["flags"]),
            }
            for row in info.values()
        ],
        columns=[
            "unique_id",
            "pattern",
            "adi",
            "cv2",
            "observed",
            "censored",
            "scale",
            "champion",
            "mase",
            "sql",
            "coverage",
            "coverage_points",
            "flags",
        ],
    )
    backtest = pd.DataFrame(
        backtest_rows, columns=["unique_id", "pattern", "model", "mase", "sql", "score"]
    )
    if progress:
        progress(len(uids))
    return ChunkResult(
        forecasts,
        series,
        backtest,
        paths if config.keep_paths else {},
        seconds,
        tuple(config.levels),
        uplift,
    )


def _apply_uplift(
    forecasts: pd.DataFrame,
    future_events: pd.DataFrame | None,
    config: ForecastConfig,
    info: Mapping[str, Mapping[str, Any]],
    uplift: Mapping[str, Mapping[str, float]],
    skip: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Multiply the forecast (point and quantiles) on future event days by the uplift (not
    for the series in ``skip``, whose model learnt the events)."""
    flags = pd.DataFrame(index=forecasts.index)
    if config.calendar:
        flags = flags.join(calendar_events(forecasts["ds"]))
    if config.events and future_events is not None:
        planned = future_events.assign(
            unique_id=future_events["unique_id"].astype(str),
            ds=pd.to_datetime(future_events["ds"]),
        )
        keyed = forecasts[["unique_id", "ds"]].merge(
            planned[["unique_id", "ds", *config.events]], on=["unique_id", "ds"], how="left"
        )
        for name in config.events:
            flags[name] = keyed[name].fillna(0.0).to_numpy()
    if flags.empty or not flags.to_numpy().any():
        return forecasts
    pattern = forecasts["unique_id"].map({u: r["pattern"] for u, r in info.items()})
    factor = np.ones(len(forecasts))
    for name in flags.columns:
        ratio = pattern.map(lambda p, name=name: uplift.get(p, {}).get(name, 1.0)).to_numpy()
        factor = factor * np.where(flags[name].to_numpy() > 0, ratio, 1.0)
    if skip:
        factor = np.where(forecasts["unique_id"].isin(skip).to_numpy(), 1.0, factor)
    columns = ["mean", *(_col(level) for level in config.levels)]
    forecasts[columns] = forecasts[columns].mul(factor, axis=0)
    return forecasts


def coverage_interval(levels: Sequence[float]) -> tuple[float, float] | None:
    """The interval whose coverage a run records: P10–P90 when both are asked, else the
    outermost pair of levels; None with fewer than two levels."""
    if 10 in levels and 90 in levels:
        return 10.0, 90.0
    if len(levels) < 2:
        return None
    return float(min(levels)), float(max(levels))


def _window_coverage(
    entries: Sequence[tuple[str, np.ndarray, np.ndarray]],
    interval: tuple[float, float],
    min_pool: int,
    nonnegative: bool,
) -> Iterator[tuple[str, int, int]]:
    """Leave-one-window-out coverage of the conformal interval: window ``w`` of every series
    is judged by the interval calibrated, with the same rule as the forecast's, on the
    pattern's paths of the OTHER windows, around the forecast the honest path implies
    (``actual − error``). Yields ``(unique_id, actuals inside, actuals scored)``; censored
    and event days (NaN actuals) are not scored."""
    errs = np.stack([e[1] for e in entries])  # series × windows × h (scaled)
    seen = np.stack([e[2] for e in entries])
    windows = errs.shape[1]
    inside = np.zeros(len(entries), dtype=int)
    points = np.zeros(len(entries), dtype=int)
    for w in range(windows):
        calibration = np.delete(errs, w, axis=1).reshape(-1, errs.shape[2])
        if not np.isfinite(calibration).any():
            continue
        low, high = _conformal(calibration, interval, min_pool)
        actual = seen[:, w]
        point = actual - errs[:, w]
        lo, hi = point + low[None, :], point + high[None, :]
        if nonnegative:
            lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
        scored = np.isfinite(actual) & np.isfinite(point)
        tol = 1e-9
        hit = scored & (actual >= lo - tol) & (actual <= hi + tol)
        inside += hit.sum(axis=1)
        points += scored.sum(axis=1)
    for k, entry in enumerate(entries):
        yield entry[0], int(inside[k]), int(points[k])


def _honest_paths(
    errors: Mapping[str, np.ndarray],
    candidates: Sequence[str],
    usable: np.ndarray,
    i: int,
    champion: str,
) -> np.ndarray:
    """Series ``i``'s error path in each backtest window, from the candidate that wins on
    the *other* windows (cross-conformal): the champion's own errors are optimistic, since
    it was chosen for being small on those very windows, and would give narrow intervals."""
    windows = errors[champion].shape[1]
    if windows < 2:
        return errors[champion][i]
    ok = [c for k, c in enumerate(candidates) if np.isfinite(usable[k])]
    per_window = np.array([np.nanmean(np.abs(errors[c][i]), axis=1) for c in ok])  # c × w
    out = np.empty_like(errors[champion][i])
    for w in range(windows):
        others = np.delete(per_window, w, axis=1)
        rank = np.nan_to_num(np.nanmean(others, axis=1), nan=np.inf)
        out[w] = errors[ok[int(np.argmin(rank))]][i, w]
    return out


def _col(level: float) -> str:
    return f"p{level:g}"


def _empty_forecasts(config: ForecastConfig) -> pd.DataFrame:
    return pd.DataFrame(
        columns=["unique_id", "ds", "model", "mean", *(_col(x) for x in config.levels)]
    )


def _window_actuals(
    by_id: Mapping[str, pd.DataFrame], members: list[str], bt_h: int, windows: int
) -> np.ndarray:
    """The backtest windows' observed values (NaN where censored): series × window × step."""
    out = np.empty((len(members), windows, bt_h))
    for i, uid in enumerate(members):
        tail = by_id[uid]["y_obs"].to_numpy()[-windows * bt_h :]
        out[i] = tail.reshape(windows, bt_h)
    return out


def _scaled_quantile_loss(
    err: np.ndarray, pred: np.ndarray, config: ForecastConfig, nonnegative: bool
) -> np.ndarray:
    """Mean pinball loss (×2, so the median's equals MAE) of the quantiles a candidate would
    give through the same conformal rule, in scale units; per series."""
    flat = err[np.isfinite(err)]
    if flat.size == 0:
        return np.full(err.shape[0], np.nan)
    total = np.zeros(err.shape[0])
    for level in config.levels:
        tau = level / 100
        offset = float(np.quantile(flat, tau))
        q = pred + offset
        if nonnegative:
            q = np.maximum(q, 0.0)
        actual = pred + err
        diff = actual - q
        loss = np.maximum(tau * diff, (tau - 1) * diff)
        total += 2 * np.nanmean(loss, axis=(1, 2))
    return total / len(config.levels)


def _conformal(paths: np.ndarray, levels: Sequence[float], min_pool: int) -> np.ndarray:
    """Scaled error quantiles, ``levels × horizon``: per step where the pool is deep enough,
    else pooled over the steps observed (errors grow with the step; a thin pool cannot
    resolve that and is widened by √step from its pooled spread)."""
    h = paths.shape[1]
    out = np.empty((len(levels), h))
    counts = np.isfinite(paths).sum(axis=0)
    flat = paths[np.isfinite(paths)]
    taus = [x / 100 for x in levels]
    if flat.size == 0:
        return np.zeros((len(levels), h))
    pooled = np.quantile(flat, taus)
    depth = max(1, int(np.max(np.nonzero(counts)[0]) + 1)) if counts.any() else 1
    for s in range(h):
        column = paths[:, s]
        column = column[np.isfinite(column)]
        if column.size >= min_pool:
            out[:, s] = np.quantile(column, taus)
        else:
            centre = np.quantile(flat, 0.5)
            growth = math.sqrt((s + 1) / depth) if s >= depth else 1.0
            out[:, s] = centre + (pooled - centre) * growth
    return out


def _naive_offsets(y: np.ndarray, scale: float, levels: Sequence[float], h: int) -> np.ndarray:
    """No backtest at all (only short series): spread of one-step changes, growing as √step."""
    if y.size < 3:
        return np.zeros((len(levels), h))
    steps = np.diff(y) / scale
    base = np.quantile(steps, [x / 100 for x in levels])
    return base[:, None] * np.sqrt(np.arange(1, h + 1))[None, :]


def _fallback(y: np.ndarray, season: int, h: int, pattern: str) -> tuple[str, np.ndarray]:
    """A forecast that cannot fail: seasonal naive for regular series with two seasons,
    a recent average for intermittent or zero-heavy ones, else the last value."""
    if y.size == 0:
        return "Zero", np.zeros(h)
    zero_share = float(np.mean(y == 0))
    if pattern in (P.INTERMITTENT, P.LUMPY) or zero_share >= 0.3:
        window = min(y.size, max(4 * season, 4))
        return "WindowAverage", np.full(h, float(np.mean(y[-window:])))
    if season > 1 and y.size >= 2 * season:
        last = y[-season:]
        return "SeasonalNaive", np.resize(last, h).astype(float)
    return "Naive", np.full(h, float(y[-1]))


def _future_dates(last: Mapping[str, pd.Timestamp], h: int, freq: str) -> dict[str, np.ndarray]:
    """``h`` dates after each series' last one (one date range per distinct last date)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    ranges: dict[pd.Timestamp, np.ndarray] = {}
    out = {}
    for uid, stamp in last.items():
        if stamp not in ranges:
            ranges[stamp] = pd.date_range(stamp, periods=h + 1, freq=offset)[1:].to_numpy()
        out[uid] = ranges[stamp]
    return out


# --------------------------------------------------------------------------- lead time


def lead_time_demand_quantiles(
    mean: np.ndarray,
    error_paths: np.ndarray,
    scale: float,
    lead_time: int,
    levels: Sequence[float] = DEFAULT_LEVELS,
    *,
    n_samples: int = 2000,
    seed: int = 0,
    nonnegative: bool = True,
) -> dict[float, float]:
    """Quantiles of the TOTAL demand over the next ``lead_time`` periods.

    Sample paths: each draws one whole backtest error path (``error_paths``, scaled errors,
    one row a backtest window, NaN past its length) and adds it, times ``scale``, to the
    point forecast ``mean``; a path shorter than the lead time is continued by another drawn
    path. Drawing whole paths keeps the errors' correlation across days (a level that is off
    stays off), which a sum of daily quantiles or of independent daily draws would not.
    """
    mean = np.asarray(mean, dtype=float)
    if lead_time < 1 or lead_time > mean.size:
        raise ValueError(f"lead_time must be between 1 and the horizon ({mean.size})")
    pool = np.asarray(error_paths, dtype=float)
    if pool.ndim != 2 or pool.size == 0:
        pool = np.zeros((1, lead_time))
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_samples, lead_time))
    filled = np.zeros(n_samples, dtype=int)
    lengths = np.isfinite(pool).cumprod(axis=1).sum(axis=1)
    usable = np.flatnonzero(lengths > 0)
    if usable.size == 0:
        usable, lengths = np.array([0]), np.array([lead_time])
        pool = np.zeros((1, lead_time))
    while (filled < lead_time).any():
        need = np.flatnonzero(filled < lead_time)
        pick = usable[rng.integers(0, usable.size, need.size)]
        for i, p in zip(need, pick, strict=True):
            take = min(int(lengths[p]), lead_time - filled[i])
            draws[i, filled[i] : filled[i] + take] = pool[p, :take]
            filled[i] += take
    demand = mean[None, :lead_time] + scale * draws
    if nonnegative:
        demand = np.maximum(demand, 0.0)
    totals = demand.sum(axis=1)
    return {level: float(np.quantile(totals, level / 100)) for level in levels}


def iter_chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Slices of ``frame`` holding at most ``size`` whole series each."""
    codes, _ = pd.factorize(frame["unique_id"].astype(str))  # in order of first appearance
    for _, part in frame.groupby(codes // size, sort=True):
        yield part


def parse_levels(text: str) -> tuple[int, ...]:
    """``"10,50,90"`` → ``(10, 50, 90)``; each a whole percent between 1 and 99."""
    levels = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 < int(part) < 100:
            raise ValueError(f"quantile level '{part}' is not a whole percent between 1 and 99")
        levels.append(int(part))
    if not levels:
        raise ValueError("no quantile level given")
    return tuple(sorted(set(levels)))


def forecast_frame(
    frame: pd.DataFrame,
    config: ForecastConfig,
    *,
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ChunkResult:
    """Every series of ``frame``, ``chunk_size`` at a time (what one process does in a run);
    ``progress(n)`` is told how many series each chunk finished."""
    parts = [forecast_chunk(chunk, config, progress) for chunk in iter_chunks(frame, chunk_size)]
    return merge_results(parts, config.levels)


def merge_results(parts: Sequence[ChunkResult], levels: Sequence[int]) -> ChunkResult:
    seconds: dict[str, float] = {}
    paths: dict[str, list[np.ndarray]] = {}
    for part in parts:
        for name, value in part.seconds.items():
            seconds[name] = seconds.get(name, 0.0) + value
        for pattern, block in part.paths.items():
            paths.setdefault(pattern, []).append(block)
    return ChunkResult(
        pd.concat([p.forecasts for p in parts], ignore_index=True),
        pd.concat([p.series for p in parts], ignore_index=True),
        pd.concat([p.backtest for p in parts], ignore_index=True),
        {pattern: np.vstack(blocks) for pattern, blocks in paths.items()},
        seconds,
        tuple(levels),
        _mean_uplift([p.uplift for p in parts]),
    )


def _mean_uplift(parts: Sequence[Mapping[str, Mapping[str, float]]]) -> dict:
    """Each pattern's and event's uplift averaged over the chunks that estimated it."""
    seen: dict[tuple[str, str], list[float]] = {}
    for part in parts:
        for pattern, events in part.items():
            for name, ratio in events.items():
                seen.setdefault((pattern, name), []).append(ratio)
    out: dict[str, dict[str, float]] = {}
    for (pattern, name), ratios in seen.items():
        out.setdefault(pattern, {})[name] = float(np.mean(ratios))
    return out


def backtest_summary(result: ChunkResult) -> pd.DataFrame:
    """Accuracy per pattern, one row a candidate and one for the selection (``champion``):
    series scored, mean MASE, mean scaled quantile loss, wins; ``flagged`` and the backtest
    P10–P90 ``coverage`` on the selection."""
    rows = []
    for pattern, group in result.series.groupby("pattern", sort=True):
        wins = group["champion"].value_counts()
        tried = result.backtest[result.backtest["pattern"] == pattern]
        for model, scores in tried.groupby("model", sort=True):
            rows.append(
                {
                    "pattern": pattern,
                    "model": model,
                    "series": int(scores["mase"].notna().sum()),
                    "mase": float(scores["mase"].mean()),
                    "sql": float(scores["sql"].mean()),
                    "wins": int(wins.get(model, 0)),
                    "flagged": 0,
                }
            )
        rows.append(
            {
                "pattern": pattern,
                "model": "champion",
                "series": len(group),
                "mase": float(group["mase"].mean()),
                "sql": float(group["sql"].mean()),
                "wins": len(group),
                "flagged": int(group["flags"].ne("").sum()),
                "coverage": pooled_coverage(group["coverage"], group["coverage_points"]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["pattern", "model", "series", "mase", "sql", "wins", "flagged", "coverage"],
    )


def pooled_coverage(coverage: Sequence[Any], points: Sequence[Any]) -> float:
    """Coverage of several series pooled by their scored points (NaN without any)."""
    inside = total = 0.0
    for share, n in zip(coverage, points, strict=True):
        if n and share == share and share is not None:
            inside += float(share) * float(n)
            total += float(n)
    return inside / total if total else float("nan")
