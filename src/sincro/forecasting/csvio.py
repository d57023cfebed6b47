"""Long-format history files (``unique_id, ds, y`` and optional columns) in, forecasts out.

Outside input: every problem is an :class:`InvalidSeries` naming the line (1 is the header)
and the column. ``censored`` (0/1, true/false, sim/não) marks stock-out days; other columns
are read as numeric exogenous features. Output is written to a temporary file beside the
target and renamed into place, so an error never leaves a partial file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sincro.forecasting.exceptions import InvalidSeries

REQUIRED = ("unique_id", "ds", "y")
_TRUE = {"1", "true", "t", "yes", "y", "sim", "s", "x"}
_FALSE = {"", "0", "false", "f", "no", "n", "não", "nao"}
_ANCHORED = {"M": ("MS", "ME"), "Q": ("QS", "QE"), "Y": ("YS", "YE"), "A": ("YS", "YE")}


@dataclass(frozen=True)
class History:
    frame: pd.DataFrame  # unique_id, ds, y, censored, exogenous…, line
    freq: str  # the alias resolved against the data (M → MS or ME, W → W-MON…)
    exogenous: tuple[str, ...]


def read_history(path: Path, freq: str) -> History:
    """Parse and validate a history file; raises :class:`InvalidSeries` on the first problem."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            head = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSeries(f"cannot read {path}: {exc}", field="input") from exc
    sep = ";" if head.count(";") > head.count(",") else ","
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.ParserError as exc:
        raise InvalidSeries(f"malformed file: {_parser_message(exc)}", field="input") from exc
    except (UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidSeries(f"malformed file: {exc}", field="input") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    for column in REQUIRED:
        if column not in raw.columns:
            raise InvalidSeries(f"line 1: column '{column}' is missing", field=column)
    if raw.columns.duplicated().any():
        name = raw.columns[raw.columns.duplicated()][0]
        raise InvalidSeries(f"line 1: column '{name}' appears twice", field=name)
    if raw.empty:
        raise InvalidSeries("the file has no data rows", field="input")
    lines = np.arange(len(raw)) + 2
    decimal_comma = sep == ";"

    ids = raw["unique_id"].str.strip()
    _first_bad(ids.eq(""), lines, "unique_id", "empty value")
    ds = pd.to_datetime(raw["ds"].str.strip(), errors="coerce", format="ISO8601")
    _first_bad(ds.isna(), lines, "ds", "is not a date (use YYYY-MM-DD)", raw["ds"])
    y = _numbers(raw["y"], lines, "y", decimal_comma, allow_empty=False)
    frame = pd.DataFrame({"unique_id": ids, "ds": ds, "y": y, "line": lines})
    exogenous: list[str] = []
    for column in raw.columns:
        if column in REQUIRED:
            continue
        if column == "censored":
            frame["censored"] = _flags(raw[column], lines)
        else:
            frame[column] = _numbers(raw[column], lines, column, decimal_comma, allow_empty=False)
            exogenous.append(column)
    if "censored" not in frame.columns:
        frame["censored"] = False

    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    dup = frame.duplicated(["unique_id", "ds"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = frame.iloc[i - 1]
        row = frame.iloc[i]
        raise InvalidSeries(
            f"line {row['line']}, column ds: series '{row['unique_id']}' has "
            f"{_day(row['ds'])} twice (also on line {first['line']})",
            field="ds",
        )
    resolved = _resolve_freq(freq, frame["ds"])
    _check_regular(frame, resolved)
    return History(frame, resolved, tuple(exogenous))


def _parser_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1]
    # pandas counts data rows from the header: "Expected 3 fields in line 5, saw 4"
    return text.replace("Error tokenizing data. C error: ", "")


def _first_bad(
    mask: pd.Series,
    lines: np.ndarray,
    column: str,
    problem: str,
    values: pd.Series | None = None,
) -> None:
    if not mask.any():
        return
    i = int(np.flatnonzero(mask.to_numpy())[0])
    shown = f"'{_clip(values.iloc[i])}' " if values is not None else ""
    raise InvalidSeries(f"line {lines[i]}, column {column}: {shown}{problem}", field=column)


def _numbers(
    values: pd.Series, lines: np.ndarray, column: str, decimal_comma: bool, *, allow_empty: bool
) -> pd.Series:
    text = values.str.strip()
    if decimal_comma:
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    if not allow_empty:
        _first_bad(text.eq(""), lines, column, "empty value")
    numbers = pd.to_numeric(text.where(text.ne("")), errors="coerce")
    _first_bad(numbers.isna() & text.ne(""), lines, column, "is not a number", values)
    _first_bad(~np.isfinite(numbers.fillna(0.0)), lines, column, "is not finite", values)
    return numbers.astype(float)


def _flags(values: pd.Series, lines: np.ndarray) -> pd.Series:
    text = values.str.strip().str.lower()
    known = text.isin(_TRUE | _FALSE)
    _first_bad(~known, lines, "censored", "is not a yes/no value (use 0 or 1)", values)
    return text.isin(_TRUE)


def _clip(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _day(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()


def _resolve_freq(freq: str, ds: pd.Series) -> str:
    """A pandas alias checked against the data: ``M``/``Q``/``Y`` become the start- or
    end-anchored alias the dates follow, ``W`` the weekday they fall on."""
    alias = freq.strip()
    try:
        pd.tseries.frequencies.to_offset(_ANCHORED.get(alias, (alias,))[0])
    except ValueError as exc:
        raise InvalidSeries(f"'{freq}' is not a pandas frequency alias", field="freq") from exc
    if alias in _ANCHORED:
        start, end = _ANCHORED[alias]
        for candidate in (start, end):
            offset = pd.tseries.frequencies.to_offset(candidate)
            if all(offset.is_on_offset(x) for x in ds.drop_duplicates().head(50)):
                return candidate
        return start
    if alias == "W":
        days = ds.dt.dayofweek.unique()
        if len(days) == 1:
            return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[int(days[0])]
    return alias


def _check_regular(frame: pd.DataFrame, freq: str) -> None:
    offset = pd.tseries.frequencies.to_offset(freq)
    for uid, group in frame.groupby("unique_id", sort=False):
        stamps = group["ds"].to_numpy()
        expected = pd.date_range(group["ds"].iloc[0], periods=len(group), freq=offset).to_numpy()
        off = not offset.is_on_offset(group["ds"].iloc[0])
        bad = np.flatnonzero(stamps != expected)
        if off or bad.size:
            i = 0 if off else int(bad[0])
            row = group.iloc[i]
            want = "" if off else f" (expected {_day(pd.Timestamp(expected[i]))})"
            raise InvalidSeries(
                f"line {row['line']}, column ds: series '{uid}' has {_day(row['ds'])}, "
                f"which breaks the '{freq}' frequency{want}: dates must be regular, with no gaps",
                field="ds",
            )


def write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV to ``path`` through a temporary file and a rename."""
    folder = path.resolve().parent
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False, float_format="%.6g")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
