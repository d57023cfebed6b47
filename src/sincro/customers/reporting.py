"""Consolidated reports over customers and receivables: new customers per period and region,
defaulters by aging bucket and UF, billing (invoiced vs received, open receivables).

The one door for the ``reports`` domain (it calls these functions, never the SQL in
:mod:`sincro.customers.reporting_repository`). Results are aggregates: no name, document or
e-mail ever appears. Dates are local dates as the ERPs keep them (``customer_since``,
``issued_on``, ``due_date``, ``paid_on``); "today" is the operator's (``as_of`` is given by
the caller, who reads it in ``reports_time_zone``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from sincro.customers import reporting_repository as repo

Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = ("day", "week", "month")
UNKNOWN_UF = "??"
UNKNOWN_REGION = "Sem UF"

REGIONS: dict[str, tuple[str, ...]] = {
    "Norte": ("AC", "AP", "AM", "PA", "RO", "RR", "TO"),
    "Nordeste": ("AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"),
    "Centro-Oeste": ("DF", "GO", "MT", "MS"),
    "Sudeste": ("ES", "MG", "RJ", "SP"),
    "Sul": ("PR", "RS", "SC"),
}
REGION_OF_UF: dict[str, str] = {uf: region for region, ufs in REGIONS.items() for uf in ufs}
REGION_ORDER: tuple[str, ...] = (*REGIONS, UNKNOWN_REGION)
BUCKETS: tuple[str, ...] = ("1-30", "31-60", "61-90", "90+")
ZERO = Decimal("0.00")


def region_of(state: str | None) -> str:
    """The macro-region (Norte, Nordeste, Centro-Oeste, Sudeste, Sul) of a UF."""
    return REGION_OF_UF.get((state or "").upper(), UNKNOWN_REGION)


def uf_key(state: str | None) -> str:
    state = (state or "").upper()
    return state if state in REGION_OF_UF else UNKNOWN_UF


def period_start(day: dt.date, grain: str) -> dt.date:
    """The first day of the period (ISO week from Monday; calendar month) holding ``day``."""
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def period_starts(start: dt.date, end: dt.date, grain: str) -> list[dt.date]:
    """Every period from the one holding ``start`` to the one holding ``end``, in order."""
    periods, current = [], period_start(start, grain)
    while current <= end:
        periods.append(current)
        if grain == "day":
            current += dt.timedelta(days=1)
        elif grain == "week":
            current += dt.timedelta(days=7)
        else:
            current = (current.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return periods


def period_key(start: dt.date, grain: str) -> str:
    """``2026-12-06`` (day), ``2026-W49`` (ISO week), ``2026-12`` (month)."""
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


# --- new customers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCustomers:
    start: dt.date
    end: dt.date
    grain: str
    periods: list[dt.date]
    by_state: dict[str, list[int]]  # UF -> count per period (aligned with ``periods``)
    by_region: dict[str, list[int]]  # macro-region -> count per period
    total: int

    @property
    def period_keys(self) -> list[str]:
        return [period_key(p, self.grain) for p in self.periods]


def new_customers(session: Session, start: dt.date, end: dt.date, grain: str) -> NewCustomers:
    """Primary customers by ``customer_since`` per period and UF / macro-region."""
    periods = period_starts(start, end, grain)
    position = {p: i for i, p in enumerate(periods)}
    by_state: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    by_region: dict[str, list[int]] = {r: [0] * len(periods) for r in REGION_ORDER}
    total = 0
    for day, state, count in repo.new_customers_by_day(session, start, end):
        index = position[period_start(day, grain)]
        by_state[uf_key(state)][index] += count
        by_region[region_of(state)][index] += count
        total += count
    return NewCustomers(
        start, end, grain, periods, dict(sorted(by_state.items())), by_region, total
    )


# --- defaulters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aging:
    titles: int = 0
    customers: int = 0
    amount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class StateDefaulters:
    state: str
    region: str
    buckets: dict[str, Aging]
    customers: int  # with anything overdue
    defaulters: int  # with a title overdue more than the grace days

    @property
    def titles(self) -> int:
        return sum(b.titles for b in self.buckets.values())

    @property
    def amount(self) -> Decimal:
        return sum((b.amount for b in self.buckets.values()), ZERO)


@dataclass(frozen=True, slots=True)
class Defaulters:
    as_of: dt.date
    grace_days: int
    states: list[StateDefaulters]  # by amount overdue, largest first
    totals: dict[str, Aging] = field(default_factory=dict)  # per bucket, every UF

    @property
    def customers(self) -> int:
        return sum(s.customers for s in self.states)

    @property
    def defaulters(self) -> int:
        return sum(s.defaulters for s in self.states)

    @property
    def amount(self) -> Decimal:
        return sum((s.amount for s in self.states), ZERO)

    @property
    def titles(self) -> int:
        return sum(s.titles for s in self.states)


def defaulters(session: Session, as_of: dt.date, grace_days: int) -> Defaulters:
    """Receivables overdue at the end of ``as_of`` (a past date is rebuilt from ``paid_on``:
    a title paid after it was open then), per UF and aging bucket. A customer is counted in
    one UF (its primary record's)."""
    per_state: dict[str, dict[str, Any]] = {}
    for row in repo.defaulters_by_state(session, as_of, grace_days):
        if not any(row[f"titles_{index}"] for index in range(len(BUCKETS))):
            continue  # open, but nothing overdue yet
        key = uf_key(row["state"])
        found = per_state.setdefault(
            key, {"customers": 0, "defaulters": 0, "buckets": [[0, 0, ZERO] for _ in BUCKETS]}
        )
        found["customers"] += int(row["customers"])  # unknown and blank UFs land together
        found["defaulters"] += int(row["defaulters"])
        for index, slot in enumerate(found["buckets"]):
            slot[0] += int(row[f"titles_{index}"])
            slot[1] += int(row[f"customers_{index}"])
            slot[2] += Decimal(row[f"amount_{index}"])
    states = [
        StateDefaulters(
            key,
            region_of(key),
            {name: _aging(slot) for name, slot in zip(BUCKETS, found["buckets"], strict=True)},
            found["customers"],
            found["defaulters"],
        )
        for key, found in per_state.items()
    ]
    states.sort(key=lambda s: (-s.amount, s.state))
    totals = {
        name: Aging(
            sum(s.buckets[name].titles for s in states),
            sum(s.buckets[name].customers for s in states),
            sum((s.buckets[name].amount for s in states), ZERO),
        )
        for name in BUCKETS
    }
    return Defaulters(as_of, grace_days, states, totals)


def _aging(slot: list[Any]) -> Aging:
    return Aging(int(slot[0]), int(slot[1]), Decimal(slot[2]).quantize(ZERO))


# --- billing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingMonth:
    month: dt.date
    invoiced_titles: int
    invoiced: Decimal
    received_titles: int
    received: Decimal

    @property
    def key(self) -> str:
        return period_key(self.month, "month")


@dataclass(frozen=True, slots=True)
class Billing:
    start: dt.date
    end: dt.date
    as_of: dt.date
    months: list[BillingMonth]
    open_count: int
    open_amount: Decimal
    overdue_count: int
    overdue_amount: Decimal

    @property
    def overdue_share(self) -> float:
        """Overdue amount over open amount (0 when nothing is open)."""
        if not self.open_amount:
            return 0.0
        return float(self.overdue_amount / self.open_amount)

    @property
    def invoiced(self) -> Decimal:
        return sum((m.invoiced for m in self.months), ZERO)

    @property
    def received(self) -> Decimal:
        return sum((m.received for m in self.months), ZERO)


def billing(session: Session, start: dt.date, end: dt.date, as_of: dt.date) -> Billing:
    """Invoiced (by ``issued_on``) and received (by ``paid_on``) per calendar month from the
    month of ``start`` to the month of ``end``; receivables open at the end of ``as_of``."""
    months = period_starts(start, end, "month")
    first = months[0]
    last = (months[-1].replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last -= dt.timedelta(days=1)
    invoiced: dict[dt.date, list[Any]] = {m: [0, ZERO] for m in months}
    received: dict[dt.date, list[Any]] = {m: [0, ZERO] for m in months}
    for target, rows in (
        (invoiced, repo.invoiced_by_day(session, first, last)),
        (received, repo.received_by_day(session, first, last)),
    ):
        for day, count, amount in rows:
            slot = target[day.replace(day=1)]
            slot[0] += count
            slot[1] += amount
    opened = repo.open_receivables(session, as_of)
    return Billing(
        first,
        last,
        as_of,
        [
            BillingMonth(m, invoiced[m][0], invoiced[m][1], received[m][0], received[m][1])
            for m in months
        ],
        int(opened["open_count"]),
        Decimal(opened["open_amount"]).quantize(ZERO),
        int(opened["overdue_count"]),
        Decimal(opened["overdue_amount"]).quantize(ZERO),
    )
