"""The report aggregates on hand-built data, on SQLite and PostgreSQL: every figure below is
worked out by hand from tests/reports/data.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sincro.customers import reporting
from sincro.db import Database
from tests.reports.data import seed

D = dt.date


def test_new_customers_per_month_region_and_uf(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        result = reporting.new_customers(session, D(2026, 1, 1), D(2026, 3, 1), "month")
    assert result.period_keys == ["2026-01", "2026-02", "2026-03"]
    # c1, c2 in January (SP); c3 (RJ) and the erased c5 (no UF) in February; c7 (RS) on 03-01;
    # c4 is merged into c1 and c6 is before the range
    assert result.by_state == {"SP": [2, 0, 0], "RJ": [0, 1, 0], "RS": [0, 0, 1], "??": [0, 1, 0]}
    assert result.by_region["Sudeste"] == [2, 1, 0]
    assert result.by_region["Sul"] == [0, 0, 1]
    assert result.by_region["Sem UF"] == [0, 1, 0]
    assert result.by_region["Norte"] == [0, 0, 0]
    assert result.total == 5


def test_new_customers_per_iso_week_and_day(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        weeks = reporting.new_customers(session, D(2026, 1, 1), D(2026, 1, 31), "week")
        days = reporting.new_customers(session, D(2026, 1, 5), D(2026, 1, 5), "day")
    assert weeks.periods[0] == D(2025, 12, 29)  # the Monday of the week holding 01-01
    assert weeks.period_keys[:3] == ["2026-W01", "2026-W02", "2026-W03"]
    assert weeks.by_state["SP"] == [0, 1, 0, 1, 0]  # 01-05 (W02) and 01-20 (W04)
    assert days.by_state == {"SP": [1]} and days.total == 1


def test_defaulters_per_uf_and_aging_bucket(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        result = reporting.defaulters(session, D(2026, 3, 31), grace_days=5)
    states = {s.state: s for s in result.states}
    assert set(states) == {"SP", "RJ", "??"}
    sp, rj, unknown = states["SP"], states["RJ"], states["??"]
    assert sp.buckets["1-30"] == reporting.Aging(2, 1, Decimal("150.00"))  # r1 + r2 (balance)
    assert sp.buckets["90+"] == reporting.Aging(1, 1, Decimal("400.00"))  # r5
    assert sp.buckets["31-60"].titles == sp.buckets["61-90"].titles == 0
    assert (sp.customers, sp.defaulters, sp.amount) == (2, 2, Decimal("550.00"))
    assert rj.buckets["31-60"] == reporting.Aging(1, 1, Decimal("200.00"))  # r3, 60 days
    assert rj.buckets["61-90"] == reporting.Aging(1, 1, Decimal("300.00"))  # r4, paid later
    assert (rj.customers, rj.defaulters, rj.region) == (1, 1, "Sudeste")
    assert unknown.buckets["1-30"] == reporting.Aging(1, 0, Decimal("10.00"))  # r9, no customer
    assert unknown.buckets["31-60"] == reporting.Aging(1, 1, Decimal("70.00"))  # r10, erased
    assert result.amount == Decimal("1130.00") and result.titles == 7
    assert result.totals["1-30"].amount == Decimal("160.00")
    assert [s.state for s in result.states] == ["SP", "RJ", "??"]  # largest amount first


def test_grace_days_decide_who_is_a_defaulter(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        strict = reporting.defaulters(session, D(2026, 3, 31), grace_days=0)
        lenient = reporting.defaulters(session, D(2026, 3, 31), grace_days=60)
    assert strict.defaulters == 4  # c1, c2, c3, c5: everyone with anything overdue
    # only titles more than 60 days late: r4 (61, c3) and r5 (120, c2)
    assert lenient.defaulters == 2
    assert lenient.customers == strict.customers == 4


def test_aging_as_of_a_past_date_is_rebuilt_from_payment_dates(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        result = reporting.defaulters(session, D(2026, 2, 15), grace_days=5)
    states = {s.state: s for s in result.states}
    assert set(states) == {"SP", "RJ"}
    # r7 was paid on 03-15: on 02-15 it was 45 days late for its whole amount
    assert states["SP"].buckets["31-60"] == reporting.Aging(1, 1, Decimal("500.00"))
    assert states["SP"].buckets["61-90"] == reporting.Aging(1, 1, Decimal("400.00"))  # r5, 76 d
    assert states["SP"].customers == 1
    assert states["RJ"].buckets["1-30"] == reporting.Aging(2, 1, Decimal("500.00"))  # r3 + r4
    assert result.amount == Decimal("1400.00")


def test_billing_invoiced_received_and_open(db: Database) -> None:
    with db.write() as session:
        seed(session)
    with db.read() as session:
        result = reporting.billing(session, D(2026, 1, 15), D(2026, 3, 2), D(2026, 3, 31))
    assert (result.start, result.end) == (D(2026, 1, 1), D(2026, 3, 31))
    months = [
        (m.key, m.invoiced_titles, m.invoiced, m.received_titles, m.received) for m in result.months
    ]
    assert months == [
        ("2026-01", 2, Decimal("500"), 0, Decimal("0")),  # r3, r4 (r8 cancelled)
        ("2026-02", 3, Decimal("210"), 1, Decimal("60")),  # r2, r10, r11; r11 paid
        ("2026-03", 3, Decimal("1109"), 1, Decimal("500")),  # r1, r6, r9; r7 paid
    ]
    assert (result.open_count, result.open_amount) == (8, Decimal("2129.00"))
    assert (result.overdue_count, result.overdue_amount) == (7, Decimal("1130.00"))
    assert abs(result.overdue_share - 1130 / 2129) < 1e-9


def test_periods_cover_ranges_without_gaps() -> None:
    months = reporting.period_starts(D(2025, 11, 30), D(2026, 2, 1), "month")
    assert months == [D(2025, 11, 1), D(2025, 12, 1), D(2026, 1, 1), D(2026, 2, 1)]
    assert reporting.period_key(D(2026, 12, 28), "week") == "2026-W53"
    assert reporting.region_of("df") == "Centro-Oeste" and reporting.region_of(None) == "Sem UF"
