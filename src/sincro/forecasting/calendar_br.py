"""Brazilian calendar events, computed (no table to keep up to date): national holidays and
Black Friday, as daily 0/1 features.

National holidays (Lei 662/1949, 6.802/1980, 10.607/2002, 14.759/2023): 1 Jan, Good Friday
(Easter − 2), Tiradentes 21 Apr, 1 May, Independence 7 Sep, Aparecida 12 Oct, Finados 2 Nov,
Republic 15 Nov, Black Consciousness 20 Nov (national from 2024), Christmas 25 Dec. Carnival
(Easter − 48/−47) and Corpus Christi (Easter + 60) are optional points nearly every employer
and shop observes; they are included as holidays here because demand follows them.
Black Friday: the day after the fourth Thursday of November.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("holiday", "black_friday")


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@cache
def holidays(year: int) -> frozenset[date]:
    sunday = easter(year)
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)]
    if year >= 2024:
        fixed.append((11, 20))
    days = {date(year, month, day) for month, day in fixed}
    days |= {sunday + timedelta(days=n) for n in (-48, -47, -2, 60)}
    return frozenset(days)


def black_friday(year: int) -> date:
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def calendar_events(ds: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """``holiday`` and ``black_friday`` (0.0/1.0) for each date of ``ds`` (computed once per
    distinct date; the index of a Series is kept)."""
    stamps = pd.Series(pd.to_datetime(ds)) if not isinstance(ds, pd.Series) else ds
    stamps = pd.to_datetime(stamps)
    distinct = pd.DatetimeIndex(stamps.unique())
    days = [d.date() for d in distinct]
    years = {d.year for d in days}
    holiday_set = frozenset().union(*(holidays(y) for y in years))
    friday_set = {black_friday(y) for y in years}
    where = distinct.get_indexer(stamps)
    return pd.DataFrame(
        {
            "holiday": np.array([d in holiday_set for d in days], dtype=float)[where],
            "black_friday": np.array([d in friday_set for d in days], dtype=float)[where],
        },
        index=stamps.index,
    )
