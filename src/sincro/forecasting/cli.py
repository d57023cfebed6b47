"""``sincro forecast …``: forecast a long-format CSV with per-series model selection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

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
    table = Table("pattern", "model", "series", "MASE", "scaled QL", "wins", "flagged")
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
            end_section=selected,
        )
    console.print(table)


def _num(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"
