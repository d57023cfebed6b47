"""Forecast runs: planned in chunks of SKUs, each chunk a task any ``sincro worker -Q forecast``
on any machine may take, resumable, recorded with their versions, promoted or rolled back.

A run reads the daily demand of its level through inventory's sales history (never the
ledger), densified to every day of its window with censored days kept as such, and hands each
chunk to the engine (:func:`sincro.forecasting.engine.forecast_chunk`). A chunk's results and
its ``done`` mark are written in ONE transaction, so a worker killed mid-chunk leaves nothing
half-written; its lease runs out and :func:`resume` (or the beat's sweep) hands it to another
worker, while a done chunk is never redone. When the last chunk is done the run's metrics per
demand pattern are computed and the run is ``done``; promotion makes it the one the API serves
for its level (the registry keeps every promotion, a rollback restores the previous one).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import Database, utcnow
from sincro.errors import Conflict, NotFound
from sincro.forecasting import hierarchy, repository as repo
from sincro.forecasting.models import ForecastRun
from sincro.forecasting.schemas import (
    ForecastOut,
    ForecastPoint,
    PromotionOut,
    RunOut,
    RunScope,
)
from sincro.inventory import history

log = logging.getLogger("sincro.forecasting")
LIBRARIES = (
    "statsforecast",
    "utilsforecast",
    "hierarchicalforecast",
    "mlforecast",
    "lightgbm",
    "numpy",
    "pandas",
    "sincro",
)
SEP = hierarchy.SEP  # unique_id = sku|key (neither a SKU nor a location code may hold it)
GLOBAL_MODEL = (
    "LightGBM (mlforecast) with promotion, holiday, Black Friday and stock-out features, "
    "a candidate for groups of at least 200 smooth or erratic series"
)
RECONCILIATION = (
    "store → UF → national, MinTrace (structural weights, non-negative) on the mean and on "
    "the P50; other quantiles shifted with their node's P50"
)


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def start(
    session: Session, scope: RunScope, today: dt.date | None = None, max_history: int = 0
) -> ForecastRun:
    """Plan a run: its data window, parameters, versions and chunks (nothing is computed).
    ``max_history``: the latest days each model is fitted on (0: the whole window)."""
    end = (today or dt.date.today()) - dt.timedelta(days=1)
    begin = end - dt.timedelta(days=scope.history_days - 1)
    if scope.skus is not None:
        known = catalog.product_ids(session, scope.skus)
        missing = [s for s in scope.skus if s not in known]
        if missing:
            raise NotFound(f"unknown SKU {missing[0]}", field="skus")
        skus = sorted(known)
    else:
        skus = sorted(catalog.every_product_id(session))
    chunks = [skus[i : i + scope.skus_per_chunk] for i in range(0, len(skus), scope.skus_per_chunk)]
    run = ForecastRun(
        status="running",
        level=scope.level,
        scope=scope.model_dump(mode="json"),
        params={
            "freq": "D",
            "horizon": scope.horizon,
            "levels": scope.levels,
            "backtest_windows": scope.backtest_windows,
            "calendar": True,
            "events": ["promo"],  # catalog promotions of the SKU, by day (also over the horizon)
            "global_model": GLOBAL_MODEL,
            "max_history": max_history,
            "censored": "masked and imputed by the engine",
            **(
                {
                    "hierarchy": list(hierarchy.LEVELS),
                    "reconciliation": RECONCILIATION,
                }
                if scope.hierarchy
                else {}
            ),
        },
        versions=library_versions(),
        data_start=begin,
        data_end=end,
        chunks_total=len(chunks),
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    repo.add_chunks(session, run.id, chunks)
    if not chunks:
        _finish(session, run)
    return run


def run_levels(run: ForecastRun) -> list[str]:
    """The levels a run forecasts (and is served for once promoted)."""
    return list((run.params or {}).get("hierarchy") or [run.level])


def demand_frame(
    session: Session,
    level: str,
    skus: Sequence[str],
    start: dt.date,
    end: dt.date,
    run_level: str | None = None,
) -> pd.DataFrame:
    """``unique_id, ds, y, censored`` for every series of ``skus`` at ``level`` that sold in
    the window, one row a day of the window (days without a row sold nothing). In a run of
    another level (a hierarchical run), keys are stored as ``level:key``."""
    sparse = history.daily_demand(session, level=level, skus=skus, start=start, end=end)
    if sparse.empty:
        return pd.DataFrame({"unique_id": [], "ds": [], "y": [], "censored": []})
    keys = sparse["key"].astype(str)
    if run_level is not None and run_level != level:
        keys = level + ":" + keys
    sparse["unique_id"] = sparse["sku"] + SEP + keys
    sparse["ds"] = pd.to_datetime(sparse["day"])
    days = pd.date_range(start, end, freq="D")
    ids = pd.unique(sparse["unique_id"])
    full = pd.MultiIndex.from_product([ids, days], names=["unique_id", "ds"])
    dense = sparse.set_index(["unique_id", "ds"])[["units", "censored"]].reindex(full).reset_index()
    dense["y"] = dense["units"].fillna(0).astype(float)
    dense["censored"] = dense["censored"].astype("boolean").fillna(False).astype(bool)
    return dense[["unique_id", "ds", "y", "censored"]]


def run_chunk(
    db: Database,
    run_id: int,
    number: int,
    *,
    worker: str,
    lease_seconds: float = 1800.0,
    forecast: Callable[..., Any] | None = None,
) -> bool:
    """Do one chunk if it is free; returns whether this call did it."""
    from sincro.forecasting import engine

    with db.write() as session:
        chunk = repo.claim_chunk(
            session, run_id, number, worker, dt.timedelta(seconds=lease_seconds)
        )
        if chunk is None:
            return False
        run = session.get(ForecastRun, run_id)
        assert run is not None
        skus, level, levels = list(chunk.skus), run.level, run_levels(run)
        params, data_start, data_end = dict(run.params), run.data_start, run.data_end
    started = time.perf_counter()
    with db.read() as session:
        frames = [demand_frame(session, lv, skus, data_start, data_end, level) for lv in levels]
        frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        state_of = {p.code: p.state for p in catalog.directory(session).places}
        horizon_end = data_end + dt.timedelta(days=int(params["horizon"]))
        promo_days = catalog.promotion_days(session, skus, data_start, horizon_end)
    events = tuple(params.get("events") or ())
    future = None
    if "promo" in events:
        frame, future = _with_promotions(frame, promo_days, data_end, int(params["horizon"]))
    config = engine.ForecastConfig(
        horizon=int(params["horizon"]),
        freq="D",
        levels=tuple(int(v) for v in params["levels"]),
        n_windows=int(params["backtest_windows"]),
        calendar=bool(params.get("calendar", True)),
        max_history=int(params.get("max_history") or 0) or None,
        keep_paths=True,
        events=events,
    )
    engine.warm_up()  # once per process: the libraries' import and first fit
    result = (
        (forecast or engine.forecast_chunk)(frame, config, future=future) if len(frame) else None
    )
    if result is not None and len(levels) > 1:
        result.forecasts, unreconciled = hierarchy.reconcile_forecasts(
            result.forecasts, frame, state_of, config.levels
        )
        _flag(result.series, unreconciled, hierarchy.UNRECONCILED)
    series_rows, value_rows = _rows(run_id, result, config.levels)
    pool_rows = _pools(run_id, number, result)
    with db.write() as session:
        repo.clear_chunk_output(session, run_id, skus, number)
        repo.write_series(session, series_rows)
        repo.write_values(session, value_rows)
        repo.write_pools(session, pool_rows)
        if not repo.finish_chunk(
            session, run_id, number, len(series_rows), time.perf_counter() - started
        ):
            session.rollback()  # another worker finished it first: keep theirs
            return False
        run = session.get(ForecastRun, run_id, populate_existing=True)
        assert run is not None
        if run.chunks_done >= run.chunks_total and run.status == "running":
            _finish(session, run)
    return True


def _with_promotions(
    frame: pd.DataFrame, days: dict[str, set[dt.date]], data_end: dt.date, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame with a 0/1 ``promo`` column (the SKU's catalog promotion days) and the
    same flag over the horizon for every series (``future`` of the engine)."""
    sku = frame["unique_id"].astype(str).str.partition(SEP)[0]
    stamps = pd.to_datetime(frame["ds"]).dt.date
    frame = frame.assign(
        promo=[1.0 if d in days.get(k, ()) else 0.0 for k, d in zip(sku, stamps, strict=True)]
    )
    ids = pd.unique(frame["unique_id"].astype(str))
    ahead = [data_end + dt.timedelta(days=i) for i in range(1, horizon + 1)]
    future = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, horizon),
            "ds": np.tile(pd.to_datetime(ahead).to_numpy(), len(ids)),
        }
    )
    future_sku = future["unique_id"].str.partition(SEP)[0]
    future["promo"] = [
        1.0 if d.date() in days.get(k, ()) else 0.0
        for k, d in zip(future_sku, future["ds"], strict=True)
    ]
    return frame, future


def _flag(series: pd.DataFrame, ids: set[str], flag: str) -> None:
    if not ids:
        return
    hit = series["unique_id"].astype(str).isin(ids)
    series.loc[hit, "flags"] = [f"{f},{flag}" if f else flag for f in series.loc[hit, "flags"]]


def _split(unique_id: str) -> tuple[str, str]:
    sku, _, key = unique_id.partition(SEP)
    return sku, key


def _rows(
    run_id: int, result: Any, levels: Sequence[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if result is None:
        return [], []
    series_rows = []
    for row in result.series.itertuples(index=False):
        sku, key = _split(str(row.unique_id))
        series_rows.append(
            {
                "run_id": run_id,
                "sku": sku,
                "key": key,
                "pattern": str(row.pattern),
                "champion": str(row.champion)[:60],
                "mase": _number(row.mase),
                "quantile_loss": _number(row.sql),
                "coverage": _number(row.coverage),
                "coverage_points": int(row.coverage_points or 0),
                "scale": _number(row.scale),
                "flags": str(row.flags or "")[:200],
            }
        )
    value_rows = []
    columns = [f"p{level}" for level in levels]
    frame = result.forecasts
    for record in frame.to_dict("records"):
        sku, key = _split(str(record["unique_id"]))
        value_rows.append(
            {
                "run_id": run_id,
                "sku": sku,
                "key": key,
                "day": pd.Timestamp(record["ds"]).date(),
                "mean": float(record["mean"]),
                "quantiles": {
                    str(level): round(float(record[c]), 4)
                    for level, c in zip(levels, columns, strict=True)
                },
            }
        )
    return series_rows, value_rows


POOL_ROWS = 300  # error paths kept per pattern and chunk (sampled, seeded)


def _pools(run_id: int, number: int, result: Any) -> list[dict[str, Any]]:
    if result is None:
        return []
    rows = []
    rng = np.random.default_rng(run_id * 100_003 + number)
    for pattern, paths in result.paths.items():
        block = np.asarray(paths, dtype=float)
        if block.ndim != 2 or not block.size:
            continue
        if len(block) > POOL_ROWS:
            block = block[rng.choice(len(block), POOL_ROWS, replace=False)]
        rounded = np.round(block, 4)
        rows.append(
            {
                "run_id": run_id,
                "number": number,
                "pattern": str(pattern),
                "paths": [[None if v != v else float(v) for v in row] for row in rounded.tolist()],
            }
        )
    return rows


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN → None


OVERALL = "overall"  # the metrics' entry over every pattern


def _finish(session: Session, run: ForecastRun) -> None:
    """Metrics per demand pattern and over all of them (``overall``) from the run's series:
    series, mean MASE and quantile loss, champions, flagged series, and the backtest's
    P10–P90 coverage pooled over the actuals scored; the run is done."""
    per_pattern: dict[str, dict[str, Any]] = {}
    for s in repo.series_of(session, run.id):
        for name in (s.pattern, OVERALL):
            entry = per_pattern.setdefault(
                name,
                {
                    "series": 0,
                    "mase": [],
                    "quantile_loss": [],
                    "champions": {},
                    "flagged": 0,
                    "inside": 0.0,
                    "points": 0,
                },
            )
            entry["series"] += 1
            if s.mase is not None:
                entry["mase"].append(s.mase)
            if s.quantile_loss is not None:
                entry["quantile_loss"].append(s.quantile_loss)
            entry["champions"][s.champion] = entry["champions"].get(s.champion, 0) + 1
            entry["flagged"] += int(bool(s.flags))
            if s.coverage is not None and s.coverage_points:
                entry["inside"] += s.coverage * s.coverage_points
                entry["points"] += s.coverage_points
    interval = engine_interval(run.params.get("levels") or [])
    metrics = {
        pattern: {
            "series": e["series"],
            "mase": _mean(e["mase"]),
            "quantile_loss": _mean(e["quantile_loss"]),
            "champions": dict(sorted(e["champions"].items(), key=lambda kv: -kv[1])),
            "flagged": e["flagged"],
            "coverage": round(e["inside"] / e["points"], 4) if e["points"] else None,
            "coverage_points": e["points"],
            "coverage_interval": interval,
        }
        for pattern, e in sorted(per_pattern.items(), key=lambda kv: (kv[0] == OVERALL, kv[0]))
    }
    run.metrics = metrics
    run.status = "done"
    run.finished_at = utcnow()


def engine_interval(levels: Sequence[int]) -> str | None:
    """``"p10-p90"``: the interval whose coverage the engine scores for these levels."""
    from sincro.forecasting.engine import coverage_interval

    pair = coverage_interval(tuple(levels))
    return None if pair is None else f"p{pair[0]:g}-p{pair[1]:g}"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def resume(session: Session, run_id: int) -> list[int]:
    """Chunks still to do (pending, or running with a lease that ran out)."""
    run = get_run(session, run_id)
    if run.status != "running":
        return []
    return repo.unfinished_chunks(session, run_id)


def get_run(session: Session, run_id: int) -> ForecastRun:
    run = session.get(ForecastRun, run_id)
    if run is None:
        raise NotFound(f"forecast run {run_id} not found", field="run_id")
    return run


def run_out(session: Session, run: ForecastRun) -> RunOut:
    live = repo.live_promotion(session, run.level)
    return RunOut(
        id=run.id,
        status=run.status,
        level=run.level,
        scope=run.scope,
        params=run.params,
        versions=run.versions,
        data_start=run.data_start,
        data_end=run.data_end,
        chunks_total=run.chunks_total,
        chunks_done=run.chunks_done,
        series_done=run.series_done,
        progress=round(run.chunks_done / run.chunks_total, 4) if run.chunks_total else 1.0,
        metrics=run.metrics,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        promoted=live is not None and live.run_id == run.id,
    )


def list_runs(session: Session, limit: int = 50, offset: int = 0) -> tuple[list[RunOut], int]:
    rows, total = repo.runs(session, limit, offset)
    return [run_out(session, r) for r in rows], total


def promote(session: Session, run_id: int, by: str) -> PromotionOut:
    """Serve this run's forecasts for its level from now on."""
    from sincro.forecasting.models import ForecastPromotion

    run = get_run(session, run_id)
    if run.status != "done":
        raise Conflict(f"run {run_id} is {run.status}; only a done run can be promoted")
    primary = None
    for level in run_levels(run):  # a hierarchical run serves every level it forecast
        live = repo.live_promotion(session, level)
        if live is None or live.run_id != run_id:
            live = ForecastPromotion(level=level, run_id=run_id, promoted_by=by[:120])
            session.add(live)
            session.flush()
        if level == run.level:
            primary = live
    assert primary is not None
    return _promotion_out(primary)


def rollback(session: Session, level: str) -> PromotionOut:
    """Withdraw the live promotion of ``level``: the one before it serves again."""
    live = repo.live_promotion(session, level)
    if live is None:
        raise NotFound(f"no promoted run for level {level}", field="level")
    live.rolled_back_at = utcnow()
    session.flush()
    previous = repo.live_promotion(session, level)
    if previous is None:
        raise Conflict(f"no earlier promoted run for level {level} to go back to")
    return _promotion_out(previous)


def registry(session: Session, level: str | None = None) -> list[PromotionOut]:
    return [_promotion_out(p) for p in repo.promotions(session, level)]


def _promotion_out(p: Any) -> PromotionOut:
    return PromotionOut(
        id=p.id,
        level=p.level,
        run_id=p.run_id,
        promoted_by=p.promoted_by,
        promoted_at=p.promoted_at,
        rolled_back_at=p.rolled_back_at,
    )


def forecast_for(
    session: Session, sku: str, level: str, key: str, horizon: int, run_id: int | None = None
) -> ForecastOut:
    """The live (promoted) forecast of one series, or of a given run."""
    if run_id is None:
        live = repo.live_promotion(session, level)
        if live is None:
            raise NotFound(f"no promoted forecast run for level {level}", field="level")
        run_id = live.run_id
    run = session.get(ForecastRun, run_id)
    stored = key if run is None else hierarchy.stored_key(run.level, level, key)
    series = repo.series_one(session, run_id, sku, stored)
    if series is None:
        raise NotFound(f"no forecast of {sku} at {level} {key} in run {run_id}", field="sku")
    points = repo.values(session, run_id, sku, stored, horizon)
    return ForecastOut(
        sku=sku,
        level=level,
        key=key,
        run_id=run_id,
        pattern=series.pattern,
        model=series.champion,
        flags=[f for f in series.flags.split(",") if f] if series.flags else [],
        points=[
            ForecastPoint(
                day=p.day, mean=p.mean, quantiles={k: float(v) for k, v in p.quantiles.items()}
            )
            for p in points
        ],
    )
