"""Forecasting speed, memory and interval calibration on synthetic retail demand.

``--series`` daily series of 730 days (plus 28 held out), retail-like: smooth weekly-seasonal
sellers with yearly swing and trend, erratic ones, many intermittent and lumpy store-level
series, launches (leading zeros), stock-outs (censored days recorded as zero sales) and
promotions. Horizon 28, the full selection with 2 backtest windows.

Chunks of ``--chunk`` series go to ``--workers`` processes, the way ``sincro worker -Q
forecast`` processes take them: each process generates its chunk (deterministic from the chunk
number), pays the library import and warm-up once, and forecasts it with
:func:`sincro.forecasting.engine.forecast_chunk`. Reported: wall time, cost per 1,000 series,
library time per model, each process's peak RSS, and P10–P90 coverage and MASE of the 28
held-out days per demand pattern (censored held-out days not scored).

    nice -n 10 .venv/bin/python -m bench.forecast_speed --series 30000 --workers 2
        [--chunk 500] [--max-history 364] [--json bench/results/forecast_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DAYS, HOLDOUT, HORIZON = 730, 28, 28
WEEK = np.array([0.8, 0.85, 0.9, 1.0, 1.25, 1.6, 0.6])


def generate(chunk: int, size: int, seed: int = 2026) -> pd.DataFrame:
    """``size`` series of ``DAYS + HOLDOUT`` days: unique_id, ds, y, censored, promo."""
    rng = np.random.default_rng([seed, chunk])
    t = np.arange(DAYS + HOLDOUT)
    n = size
    kind = rng.choice(4, n, p=[0.30, 0.10, 0.40, 0.20])  # smooth, erratic, intermittent, lumpy
    level = np.where(kind < 2, rng.lognormal(2.3, 0.6, n), rng.uniform(0.05, 0.5, n))
    week = np.resize(WEEK, t.size)[None, :] ** rng.uniform(0.3, 1.0, (n, 1))
    year = 1 + rng.uniform(0, 0.3, (n, 1)) * np.sin(2 * np.pi * (t[None, :] + 300) / 365.25)
    trend = 1 + rng.normal(0, 0.15, (n, 1)) * t[None, :] / t.size
    promo = (rng.random((n, t.size)) < 0.02).astype(float)
    rate = level[:, None] * week * year * np.clip(trend, 0.2, None) * (1 + 0.8 * promo)
    y = rng.poisson(rate).astype(float)
    lumpy = kind == 3
    y[lumpy] *= rng.choice([1, 1, 2, 6, 12], (int(lumpy.sum()), t.size))
    erratic = kind == 1
    y[erratic] = rng.negative_binomial(1.2, 1.2 / (1.2 + rate[erratic])).astype(float)
    # launches: a fifth of the series start later
    launch = np.where(rng.random(n) < 0.2, rng.integers(30, 500, n), 0)
    y[t[None, :] < launch[:, None]] = 0.0
    # stock-outs: runs of 3–15 days with zero recorded sales, censored
    censored = np.zeros_like(y, dtype=bool)
    for i in np.flatnonzero(rng.random(n) < 0.3):
        for _ in range(rng.integers(1, 4)):
            start = int(rng.integers(launch[i], t.size - 3))
            censored[i, start : start + int(rng.integers(3, 16))] = True
    y[censored] = 0.0
    ds = pd.date_range("2024-11-01", periods=t.size, freq="D")
    ids = np.array([f"c{chunk:04d}-{i:04d}" for i in range(n)])
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids, t.size),
            "ds": np.tile(ds.to_numpy(), n),
            "y": y.ravel(),
            "censored": censored.ravel(),
            "promo": promo.ravel(),
        }
    )


_WARM_SECONDS = 0.0


def _init() -> None:
    global _WARM_SECONDS
    from sincro.forecasting import engine

    _WARM_SECONDS = engine.warm_up()


def _work(args: tuple[int, int, int | None]) -> dict[str, Any]:
    from sincro.forecasting import engine

    chunk, size, max_history = args
    started = time.perf_counter()
    frame = generate(chunk, size)
    generated = time.perf_counter() - started
    cutoff = frame["ds"].max() - pd.Timedelta(days=HOLDOUT - 1)
    train, test = frame[frame["ds"] < cutoff], frame[frame["ds"] >= cutoff]
    config = engine.ForecastConfig(horizon=HORIZON, freq="D", max_history=max_history)
    started, cpu = time.perf_counter(), time.process_time()
    result = engine.forecast_chunk(train, config)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    scored = result.forecasts.merge(test, on=["unique_id", "ds"]).merge(
        result.series[["unique_id", "pattern", "scale"]], on="unique_id"
    )
    scored = scored[~scored["censored"]]
    scored["inside"] = (scored["y"] >= scored["p10"]) & (scored["y"] <= scored["p90"])
    scored["ae"] = (scored["y"] - scored["mean"]).abs() / scored["scale"]
    per_pattern = scored.groupby("pattern").agg(
        points=("inside", "size"), inside=("inside", "sum"), ae=("ae", "sum")
    )
    return {
        "chunk": chunk,
        "pid": os.getpid(),
        "warm_up_seconds": _WARM_SECONDS,
        "generate_seconds": generated,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "model_seconds": result.seconds,
        "patterns": result.series["pattern"].value_counts().to_dict(),
        "champions": result.series["champion"].value_counts().to_dict(),
        "flagged": int(result.series["flags"].ne("").sum()),
        "scored": per_pattern.to_dict(orient="index"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=30_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-history", type=int, default=0, help="0 = all 730 days")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    jobs = []
    for chunk, start in enumerate(range(0, args.series, args.chunk)):
        jobs.append((chunk, min(args.chunk, args.series - start), args.max_history or None))
    load_before = os.getloadavg()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_init) as pool:
        parts = []
        for part in pool.map(_work, jobs):
            parts.append(part)
            print(
                f"chunk {part['chunk']:3d}  {part['seconds']:6.1f}s wall  "
                f"{part['cpu_seconds']:6.1f}s cpu  "
                f"rss {part['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    wall = time.perf_counter() - started
    models: dict[str, float] = {}
    patterns: dict[str, int] = {}
    champions: dict[str, int] = {}
    scored: dict[str, dict[str, float]] = {}
    for part in parts:
        for name, value in part["model_seconds"].items():
            models[name] = models.get(name, 0.0) + value
        for name, value in part["patterns"].items():
            patterns[name] = patterns.get(name, 0) + value
        for name, value in part["champions"].items():
            champions[name] = champions.get(name, 0) + value
        for pattern, row in part["scored"].items():
            acc = scored.setdefault(pattern, {"points": 0, "inside": 0, "ae": 0.0})
            for key in acc:
                acc[key] += row[key]
    rss: dict[int, float] = {}
    for part in parts:
        rss[part["pid"]] = max(rss.get(part["pid"], 0.0), part["peak_rss_mb"])
    compute = sum(p["seconds"] for p in parts)
    cpu = sum(p["cpu_seconds"] for p in parts)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cpus, {platform.python_version()}",
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "series": args.series,
        "workers": args.workers,
        "chunk": args.chunk,
        "max_history": args.max_history or DAYS,
        "wall_seconds": wall,
        "forecast_wall_seconds_summed": compute,
        "generate_seconds": sum(p["generate_seconds"] for p in parts),
        "warm_up_seconds": sorted({round(p["warm_up_seconds"], 2) for p in parts}),
        "seconds_per_1000_series_wall": 1000 * wall / args.series,
        "forecast_seconds_per_1000_series_one_core": 1000 * compute / args.series,
        "forecast_cpu_seconds": cpu,
        "forecast_cpu_seconds_per_1000_series": 1000 * cpu / args.series,
        "model_seconds": dict(sorted(models.items(), key=lambda kv: -kv[1])),
        "patterns": patterns,
        "champions": champions,
        "flagged": sum(p["flagged"] for p in parts),
        "peak_rss_mb_per_worker": list(rss.values()),
        "peak_rss_mb_total": sum(rss.values())
        + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "holdout": {
            pattern: {
                "coverage_p10_p90": row["inside"] / row["points"],
                "mase": row["ae"] / row["points"],
                "points": row["points"],
            }
            for pattern, row in sorted(scored.items())
        },
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
