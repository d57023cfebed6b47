"""``sincro forecast csv``: the whole path through the composed CLI, and every error it
names (line and column), with a non-zero exit and no output file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sincro.cli import app
from sincro.config import reset_settings
from tests.forecasting import synthetic as S

runner = CliRunner()


@pytest.fixture(autouse=True)
def _var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path / "var"))
    reset_settings()


def _history(path: Path) -> Path:
    rng = np.random.default_rng(7)
    frame = pd.concat(
        [
            S.series("smooth-1", S.seasonal(rng, n=120)),
            S.series("sparse-1", S.intermittent(rng, n=120)),
            S.series("new-1", np.array([3.0, 4, 2])),
        ]
    )
    frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%d")
    frame.to_csv(path, index=False)
    return path


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["forecast", "csv", *args])


def test_a_daily_file_forecast_with_levels_and_the_backtest_table(tmp_path: Path) -> None:
    source = _history(tmp_path / "in.csv")
    target = tmp_path / "out.csv"
    result = _run(
        "--input", str(source), "--horizon", "14", "--freq", "D", "--output", str(target),
        "--levels", "5,50,95", "--backtest",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = pd.read_csv(target)
    assert list(out.columns) == ["unique_id", "ds", "model", "p5", "p50", "p95"]
    assert len(out) == 3 * 14
    assert out.groupby("unique_id")["ds"].first().to_dict() == {
        "new-1": "2024-01-04",
        "smooth-1": "2024-04-30",
        "sparse-1": "2024-04-30",
    }
    assert (out["p5"] <= out["p50"]).all() and (out["p50"] <= out["p95"]).all()
    assert "new-1: short" in result.output  # flagged, forecast by a fallback
    assert "selected" in result.output and "intermittent" in result.output


def test_monthly_alias_m_follows_the_dates_and_semicolon_decimal_comma_is_read(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    months = pd.date_range("2016-01-01", periods=60, freq="MS")
    y = 100 + 20 * np.sin(np.arange(60) * np.pi / 6) + rng.normal(0, 2, 60)
    text = "unique_id;ds;y;censored\n" + "".join(
        f"loja-1;{d:%Y-%m-%d};{v:.2f}".replace(".", ",") + f";{'sim' if i == 30 else 'não'}\n"
        for i, (d, v) in enumerate(zip(months, y, strict=True))
    )
    source = tmp_path / "monthly.csv"
    source.write_text(text, encoding="utf-8")
    target = tmp_path / "out.csv"
    result = _run("--input", str(source), "--horizon", "6", "--freq", "M", "--output", str(target))
    assert result.exit_code == 0, result.output
    out = pd.read_csv(target)
    assert out["ds"].tolist()[:2] == ["2021-01-01", "2021-02-01"]
    assert out["p50"].between(60, 140).all()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,2,9\n", "line 3"),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-13-02,2\n", "line 3, column ds: '2024-13-02'"),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,many\n", "line 3, column y: 'many'"),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,\n", "line 3, column y: empty value"),
        ("unique_id,ds,qty\na,2024-01-01,1\n", "line 1: column 'y' is missing"),
        (
            "unique_id,ds,y\na,2024-01-01,1\nb,2024-01-01,1\na,2024-01-01,5\n",
            "line 4, column ds: series 'a' has 2024-01-01 twice (also on line 2)",
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,1\na,2024-01-04,5\n",
            "line 4, column ds: series 'a' has 2024-01-04, which breaks the 'D' frequency "
            "(expected 2024-01-03)",
        ),
        ("unique_id,ds,y,censored\na,2024-01-01,1,talvez\n", "line 2, column censored"),
        ("unique_id,ds,y\n,2024-01-01,1\n", "line 2, column unique_id: empty value"),
    ],
)
def test_malformed_files_name_line_and_column_and_write_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(body, encoding="utf-8")
    target = tmp_path / "out.csv"
    result = _run("--input", str(source), "--horizon", "3", "--freq", "D", "--output", str(target))
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert message in flat, flat
    assert not target.exists()
    assert list(tmp_path.glob(".out.csv.*")) == []


def test_bad_options_are_refused_before_any_work(tmp_path: Path) -> None:
    source = _history(tmp_path / "in.csv")
    target = tmp_path / "out.csv"
    common = ["--input", str(source), "--horizon", "3", "--output", str(target)]
    wrong_level = _run(*common, "--freq", "D", "--levels", "10,150")
    assert wrong_level.exit_code == 1 and "150" in wrong_level.output
    wrong_freq = _run(*common, "--freq", "fortnightly")
    assert wrong_freq.exit_code == 1 and "'fortnightly' is not a pandas frequency" in " ".join(
        wrong_freq.output.split()
    )
    weekly = _run(*common, "--freq", "W")  # daily dates are not weekly ones
    assert (
        weekly.exit_code == 1
        and "series 'new-1' has 2024-01-01, which breaks the 'W' frequency"
        in " ".join(weekly.output.split())
    )
    assert not target.exists()
