"""Jinja filters that show numbers, money and dates the Brazilian way.

Integers use "." for thousands (``1.234``), decimals use "," (``12,5``), money reads
``R$ 1.234,56`` and dates ``dd/mm/aaaa HH:MM`` in São Paulo time. Sincro stores UTC; a naive
datetime given here is taken as UTC too.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
EMPTY = "—"
CENTS = Decimal("0.01")


def _swap_separators(text: str) -> str:
    """Turn ``1,234.5`` (Python's format) into ``1.234,5``."""
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def integer(value: Any) -> str:
    """``1234567`` -> ``1.234.567``; None -> ``—``."""
    if value is None or value == "":
        return EMPTY
    try:
        number = round(float(value))
    except (TypeError, ValueError):
        return str(value)
    return _swap_separators(f"{number:,}")


def decimal(value: Any, places: int = 2) -> str:
    """``1234.5`` -> ``1.234,50`` (with ``places`` decimals)."""
    if value is None or value == "":
        return EMPTY
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return _swap_separators(f"{number:,.{places}f}")


def money(value: Any) -> str:
    """``1234.56`` -> ``R$ 1.234,56``; negative amounts read ``-R$ 10,00``."""
    if value is None or value == "":
        return EMPTY
    try:
        amount = Decimal(str(value)).quantize(CENTS, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}R$ {_swap_separators(f'{abs(amount):,.2f}')}"


def km(value: Any) -> str:
    """``3.456`` -> ``3,5 km``."""
    if value is None or value == "":
        return EMPTY
    return f"{decimal(value, 1)} km"


def to_datetime(value: Any) -> dt.datetime | None:
    """A datetime from a datetime, an ISO 8601 string or a Unix timestamp (None if empty)."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def datetime_br(value: Any) -> str:
    """A moment as ``dd/mm/aaaa HH:MM`` in America/Sao_Paulo."""
    moment = to_datetime(value)
    if moment is None:
        return EMPTY
    return moment.astimezone(SAO_PAULO).strftime("%d/%m/%Y %H:%M")


def yes_no(value: Any) -> str:
    return "Sim" if value else "Não"


FILTERS = {
    "integer": integer,
    "decimal": decimal,
    "money": money,
    "km": km,
    "datetime_br": datetime_br,
    "yes_no": yes_no,
}


def install(env: Environment) -> None:
    """Register the console's filters on a Jinja environment."""
    env.filters.update(FILTERS)
