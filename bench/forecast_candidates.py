"""Do the costly models earn their place? A sample of the smooth and erratic series of the
speed benchmark's synthetic retail data, backtested with the default daily candidates plus
AutoARIMA and MSTL: how often each wins, its mean backtest MASE, and its CPU time a series.
With ``--global``: the default daily candidates plus the global LightGBM model (the
promotion flag as an event and a feature), the group large enough to get it.

    nice -n 10 .venv/bin/python -m bench.forecast_candidates [--series 40] [--max-history 364]
        [--global]
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from bench.forecast_speed import HOLDOUT, generate
from sincro.forecasting import engine, patterns as P


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--max-history", type=int, default=364)
    parser.add_argument("--global", dest="global_model", action="store_true")
    args = parser.parse_args()
    frame = generate(99, args.series * 3)
    frame = frame[frame["ds"] <= frame["ds"].max() - pd.Timedelta(days=HOLDOUT)]
    patterns = P.classify_frame(frame)
    keep = patterns[patterns["pattern"].isin([P.SMOOTH, P.ERRATIC])]["unique_id"][: args.series]
    sample = frame[frame["unique_id"].isin(set(keep))]
    smooth = (*engine.FAST_CANDIDATES[P.SMOOTH], "AutoARIMA", "MSTL")
    if args.global_model:
        smooth = engine.FAST_CANDIDATES[P.SMOOTH]
    config = engine.ForecastConfig(
        horizon=28,
        freq="D",
        max_history=args.max_history,
        candidates={P.SMOOTH: smooth, P.ERRATIC: smooth},
        events=("promo",) if args.global_model else (),
        global_min_series=1 if args.global_model else 10**9,
    )
    result = engine.forecast_chunk(sample, config)
    summary = engine.backtest_summary(result)
    n = len(keep)
    report = {
        "series": n,
        "cpu_ms_per_series": {k: 1000 * v / n for k, v in sorted(result.seconds.items())},
        "table": summary.to_dict(orient="records"),
    }
    print(summary.to_string(index=False))
    print(json.dumps(report["cpu_ms_per_series"], indent=2))


if __name__ == "__main__":
    main()
