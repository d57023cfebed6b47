"""pt-BR formatting of numbers, money and dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sincro.console import formatting as f


def test_integers_use_dots_for_thousands() -> None:
    assert f.integer(0) == "0"
    assert f.integer(1234) == "1.234"
    assert f.integer(-1234567) == "-1.234.567"
    assert f.integer(None) == "—"


def test_money_is_reais() -> None:
    assert f.money(1234.56) == "R$ 1.234,56"
    assert f.money(Decimal("0.005")) == "R$ 0,01"
    assert f.money(1_000_000) == "R$ 1.000.000,00"
    assert f.money(-10) == "-R$ 10,00"


def test_decimals_and_km() -> None:
    assert f.decimal(1234.5) == "1.234,50"
    assert f.km(3.456) == "3,5 km"


def test_dates_are_sao_paulo_time() -> None:
    moment = dt.datetime(2026, 1, 15, 15, 30, tzinfo=dt.UTC)
    assert f.datetime_br(moment) == "15/01/2026 12:30"
    assert f.datetime_br(moment.isoformat()) == "15/01/2026 12:30"
    assert f.datetime_br(moment.timestamp()) == "15/01/2026 12:30"
    assert f.datetime_br(None) == "—"
