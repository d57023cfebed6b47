"""The forecast monitor: as actuals arrive, how the live forecasts did, per demand pattern,
and an alert when they drift.

Every day after a promoted run's data window, once the day is over (yesterday and before),
the run's forecasts for that day are compared with what sold (inventory's sales history, at
the run's level); censored days are left out (a stock-out says nothing of demand). Per pattern
it keeps the series compared, the scaled absolute error (|actual − mean| / the series' scale,
the unit of the backtest's MASE) and how many actuals fell inside P10–P90. Drift: over the last
``window`` monitored days, a pattern whose P10–P90 coverage falls below
``SINCRO_FORECASTING_MONITOR_MIN_COVERAGE`` or whose scaled error exceeds its backtest MASE by
``SINCRO_FORECASTING_MONITOR_ERROR_RATIO`` raises an alert (one per level and pattern), resolved
when it recovers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sincro.alerts import DomainAlerts
from sincro.forecasting import hierarchy, repository as repo
from sincro.forecasting.models import ForecastRun
from sincro.inventory import history

ALERTS = DomainAlerts("forecasting", {"forecast_drift": "previsão fora do esperado"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_coverage: float = 0.6
    error_ratio: float = 1.5
    window: int = 7
    min_series: int = 5  # fewer compared series in the window say nothing yet


def record_day(session: Session, run: ForecastRun, day: dt.date) -> int:
    """Compare one day's forecasts of ``run`` with the actuals; returns series compared."""
    forecasts = repo.values_on(session, run.id, day)
    if not forecasts:
        return 0
    series = {(s.sku, s.key): s for s in repo.series_of(session, run.id)}
    skus = sorted({f.sku for f in forecasts})
    sold: dict[tuple[str, str], tuple[int, bool]] = {}
    for level in sorted({hierarchy.level_of(f.key, run.level)[0] for f in forecasts}):
        actual = history.daily_demand(session, level=level, skus=skus, start=day, end=day)
        for r in actual.itertuples():
            stored = hierarchy.stored_key(run.level, level, str(r.key))
            sold[(r.sku, stored)] = (int(r.units), bool(r.censored))
    per: dict[str, list[float]] = {}
    for f in forecasts:
        info = series.get((f.sku, f.key))
        if info is None:
            continue
        units, censored = sold.get((f.sku, f.key), (0, False))
        if censored:
            continue
        scale = info.scale if info.scale and info.scale > 0 else 1.0
        low, high = f.quantiles.get("10"), f.quantiles.get("90")
        inside = low is not None and high is not None and low <= units <= high
        entry = per.setdefault(info.pattern, [0, 0.0, 0])
        entry[0] += 1
        entry[1] += abs(units - f.mean) / scale
        entry[2] += int(inside)
    repo.write_monitor(
        session,
        [
            {
                "run_id": run.id,
                "day": day,
                "pattern": pattern,
                "series": int(n),
                "scaled_error": round(float(err), 4),
                "inside": int(inside),
            }
            for pattern, (n, err, inside) in sorted(per.items())
        ],
    )
    return int(sum(v[0] for v in per.values()))


def catch_up(session: Session, today: dt.date) -> int:
    """Record every finished, not yet monitored day of every live run; returns days recorded."""
    done = 0
    for promotion in repo.live_promotions(session):
        run = session.get(ForecastRun, promotion.run_id)
        if run is None:
            continue
        seen = repo.monitored_days(session, run.id)
        day = run.data_end + dt.timedelta(days=1)
        while day < today:
            if day not in seen and record_day(session, run, day):
                done += 1
            day += dt.timedelta(days=1)
    return done


def summary(session: Session, run_id: int, since: dt.date | None = None) -> dict[str, Any]:
    """Per pattern over the monitored days (from ``since``): series, mean scaled error,
    P10–P90 coverage; and per day for charts."""
    rows = repo.monitor_rows(session, run_id, since)
    patterns: dict[str, list[float]] = {}
    days: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = patterns.setdefault(r.pattern, [0, 0.0, 0])
        entry[0] += r.series
        entry[1] += r.scaled_error
        entry[2] += r.inside
        days.setdefault(r.day.isoformat(), {})[r.pattern] = round(r.inside / r.series, 3)
    return {
        "patterns": {
            p: {
                "series": int(n),
                "scaled_error": round(err / n, 3) if n else None,
                "coverage": round(inside / n, 3) if n else None,
            }
            for p, (n, err, inside) in sorted(patterns.items())
        },
        "coverage_by_day": days,
    }


def check_drift(session: Session, today: dt.date, limits: Thresholds) -> tuple[int, int]:
    """Raise or resolve drift alerts for every live run; returns (raised or kept, resolved)."""
    raised = resolved = 0
    since = today - dt.timedelta(days=limits.window)
    for promotion in repo.live_promotions(session):
        run = session.get(ForecastRun, promotion.run_id)
        if run is None:
            continue
        backtest = run.metrics or {}
        for pattern, m in summary(session, run.id, since)["patterns"].items():
            dedupe = f"forecasting:drift:{run.level}:{pattern}"
            if m["series"] < limits.min_series:
                continue
            reference = (backtest.get(pattern) or {}).get("mase")
            too_wide = m["coverage"] is not None and m["coverage"] < limits.min_coverage
            too_far = (
                reference is not None
                and m["scaled_error"] is not None
                and m["scaled_error"] > limits.error_ratio * reference
            )
            if too_wide or too_far:
                ALERTS.raise_alert(
                    session,
                    "forecast_drift",
                    f"previsão v{run.id} ({run.level}, padrão {pattern}): cobertura P10–P90 "
                    f"{m['coverage']:.0%} e erro escalado {m['scaled_error']:.2f} nos últimos "
                    f"{limits.window} dias (backtest: {_shown(reference)})",
                    source=run.level,
                    details={"run_id": run.id, "pattern": pattern, **m},
                    dedupe_key=dedupe,
                )
                raised += 1
            else:
                resolved += ALERTS.resolve_alerts(session, dedupe)
    return raised, resolved


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
