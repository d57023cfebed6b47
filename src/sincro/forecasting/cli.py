"""``sincro forecast …``: forecast a long-format CSV with per-series model selection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Column, Table

from sincro.cli_common import console, fail, progress_bar

if TYPE_CHECKING:
    import pandas as pd

forecast_app = typer.Typer(help="Demand forecasting.", no_args_is_help=True)


@forecast_app.command("csv")
def forecast_csv(
    input: Path = typer.Option(..., "--input", help="long format: unique_id, ds, y[, …]"),
    horizon: int = typer.Option(..., "--horizon", min=1, max=10_000),
    freq: str = typer.Option(..., "--freq", help="pandas alias: D, W, MS/M, QS/Q, YS/Y…"),
    output: Path = typer.Option(..., "--output"),
    levels: str = typer.Option("", "--levels", help="quantile levels, percent (10,50,90)"),
    backtest: bool = typer.Option(False, "--backtest", help="print accuracy per pattern"),
    season: int = typer.Option(0, "--season", min=0, help="seasonal period; 0 = from freq"),
    calendar: bool = typer.Option(
        True, "--calendar/--no-calendar", help="daily data: Brazilian holidays, Black Friday"
    ),
) -> None:
    """Forecast every series of a CSV: unique_id, ds, model and one column per level out."""
    from sincro.config import get_settings
    from sincro.forecasting import csvio, engine
    from sincro.forecasting.exceptions import InvalidSeries

    settings = get_settings()
    try:
        wanted = engine.parse_levels(levels or settings.forecasting_levels)
        history = csvio.read_history(input, freq)
        flags = tuple(c for c in history.exogenous if history.frame[c].isin((0.0, 1.0)).all())
        config = engine.ForecastConfig(
            horizon=horizon,
            freq=history.freq,
            levels=wanted,
            season_length=season or None,
            n_windows=settings.forecasting_backtest_windows,
            max_history=settings.forecasting_max_history or None,
            events=flags,
            calendar=calendar and engine.season_for(history.freq) == 7,
        )
    except InvalidSeries as exc:
        fail(f"{input}: {exc.message}")
    except ValueError as exc:
        fail(str(exc))
    frame = history.frame
    total = int(frame["unique_id"].nunique())
    with progress_bar("forecasting") as bar:
        task = bar.add_task("series", total=total)
        try:
            result = engine.forecast_frame(
                frame,
                config,
                chunk_size=settings.forecasting_chunk_size,
                progress=lambda n: bar.advance(task, n),
            )
        except ValueError as exc:  # a configuration the data cannot meet; nothing written
            fail(str(exc))
    columns = ["unique_id", "ds", "model", *(f"p{level}" for level in config.levels)]
    out = result.forecasts[columns].copy()
    if (out["ds"] == out["ds"].dt.normalize()).all():
        out["ds"] = out["ds"].dt.strftime("%Y-%m-%d")
    csvio.write_atomically(out, output)
    flagged = result.series[result.series["flags"] != ""]
    console.print(
        f"[green]✓[/] {total} series × {horizon} periods ({history.freq}) → {output}"
        + (f"; {len(flagged)} flagged" if len(flagged) else "")
    )
    for _, row in flagged.head(20).iterrows():
        console.print(f"  [yellow]{row['unique_id']}[/]: {row['flags']} (model {row['champion']})")
    if config.events:
        console.print(
            "[dim]events (0/1 columns) masked from the baseline, uplift re-applied on future "
            "event days; none is planned in the future of a CSV: "
            + ", ".join(config.events)
            + "[/]"
        )
    ignored = [c for c in history.exogenous if c not in config.events]
    if ignored:
        console.print(
            "[dim]numeric columns read but not used by the statistical candidates: "
            + ", ".join(ignored)
            + "[/]"
        )
    if backtest:
        _print_backtest(engine.backtest_summary(result))


def _print_backtest(summary: pd.DataFrame) -> None:
    if summary.empty:
        console.print("no series long enough to backtest")
        return
    # cover: backtest actuals inside the outermost interval asked (P10–P90 by default)
    table = Table("series", "MASE", "scaled QL", "wins", "flagged", "cover")
    table.columns.insert(0, Column("model", no_wrap=True))
    table.columns.insert(0, Column("pattern", no_wrap=True))
    for _, row in summary.iterrows():
        selected = row["model"] == "champion"
        table.add_row(
            str(row["pattern"]),
            "[bold]selected[/]" if selected else str(row["model"]),
            str(row["series"]),
            _num(row["mase"]),
            _num(row["sql"]),
            str(row["wins"]) if not selected else "",
            str(row["flagged"]) if selected else "",
            _pct(row["coverage"]) if selected else "",
            end_section=selected,
        )
    console.print(table)


def _num(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.1%}"


@forecast_app.command("run")
def forecast_run(
    level: str = typer.Option("uf", "--level", help="location, uf, dc_region, online or total"),
    horizon: int = typer.Option(28, "--horizon", min=1, max=365),
    history_days: int = typer.Option(730, "--history-days", min=28, max=1100),
    skus: str = typer.Option("", "--skus", help="comma-separated SKUs (default: every SKU)"),
    per_chunk: int = typer.Option(20, "--skus-per-chunk", min=1, max=5000),
    queue: bool = typer.Option(
        False, "--queue", help="hand the chunks to `sincro worker -Q forecast` processes"
    ),
    promote: bool = typer.Option(False, "--promote", help="serve the run once it is done"),
    hierarchical: bool = typer.Option(
        False,
        "--hierarchy",
        help="with --level location: stores, UFs and the national total, reconciled",
    ),
) -> None:
    """Forecast the operator's sales history (here, with a progress bar, or on the workers)."""
    import time

    from pydantic import ValidationError

    from sincro.audit import Actor
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.errors import SincroError
    from sincro.forecasting import runs
    from sincro.forecasting.schemas import RunScope

    try:
        scope = RunScope.model_validate(
            {
                "level": level,
                "horizon": horizon,
                "history_days": history_days,
                "skus": [s.strip() for s in skus.split(",") if s.strip()] or None,
                "skus_per_chunk": per_chunk,
                "hierarchy": hierarchical,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{'-'.join(str(p) for p in first['loc'])}: {first['msg']}")
    db = get_database()
    try:
        with db.write() as session:
            run = runs.start(session, scope, max_history=get_settings().forecasting_max_history)
            run_id, total = run.id, run.chunks_total
    except SincroError as exc:
        fail(exc.message)
    console.print(f"run {run_id}: {total} chunks of up to {per_chunk} SKUs at level {level}")
    with progress_bar("previsão") as progress:
        task = progress.add_task("previsão", total=total)
        if queue:
            from sincro.forecasting.tasks import enqueue

            enqueue(run_id, list(range(total)))
            while True:
                with db.read() as session:
                    current = runs.get_run(session, run_id)
                    done, status = current.chunks_done, current.status
                progress.update(task, completed=done)
                if status != "running":
                    break
                time.sleep(2)
        else:
            for number in range(total):
                runs.run_chunk(db, run_id, number, worker=f"cli:{Actor.cli().label}")
                progress.update(task, completed=number + 1)
    with db.write() as session:
        current = runs.get_run(session, run_id)
        out = runs.run_out(session, current)
        if promote and current.status == "done":
            runs.promote(session, run_id, Actor.cli().label)
    table = Table("padrão", "séries", "MASE", "perda quantílica", "cobertura P10–P90", "campeões")
    for pattern, m in (out.metrics or {}).items():
        champions = ", ".join(f"{k} {v}" for k, v in list(m["champions"].items())[:3])
        table.add_row(
            pattern,
            str(m["series"]),
            _num(m["mase"]),
            _num(m["quantile_loss"]),
            _pct(m.get("coverage")),
            champions,
        )
    console.print(table)
    console.print(f"[green]✓[/] run {run_id} {out.status}" + (" and promoted" if promote else ""))
