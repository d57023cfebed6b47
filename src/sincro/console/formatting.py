"""Jinja filters that show numbers, money and dates the Brazilian way.

Integers use "." for thousands (``1.234``), decimals use "," (``12,5``), money reads
``R$ 1.234,56`` and dates ``dd/mm/aaaa HH:MM`` in São Paulo time. Sincro stores UTC; a naive
datetime given here is taken as UTC too.
"""

from __future__ import annotations

import datetime as dt
from decimal import InvalidOperation
from typing import Any

from jinja2 import Environment

from sincro import text_pt

EMPTY = "—"


def integer(value: Any) -> str:
    """``1234567`` -> ``1.234.567``; None -> ``—``."""
    if value is None or value == "":
        return EMPTY
    try:
        number = round(float(value))
    except (TypeError, ValueError):
        return str(value)
    return text_pt.integer_br(number)


def decimal(value: Any, places: int = 2) -> str:
    """``1234.5`` -> ``1.234,50`` (with ``places`` decimals)."""
    if value is None or value == "":
        return EMPTY
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return text_pt.decimal_br(number, places)


def money(value: Any) -> str:
    """``1234.56`` -> ``R$ 1.234,56``; negative amounts read ``-R$ 10,00``."""
    if value is None or value == "":
        return EMPTY
    try:
        return text_pt.money_br(value)
    except (InvalidOperation, ValueError):
        return str(value)


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


def datetime_br(value: Any, zone: str | None = None) -> str:
    """A moment as ``dd/mm/aaaa HH:MM`` in ``zone`` (a location's IANA zone; by default
    America/Sao_Paulo)."""
    moment = to_datetime(value)
    if moment is None:
        return EMPTY
    return text_pt.datetime_br(moment, zone or text_pt.SAO_PAULO)


def date_br(value: Any) -> str:
    """A date (or a moment, in America/Sao_Paulo) as ``dd/mm/aaaa``."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, dt.date):
        return text_pt.date_br(value)
    moment = to_datetime(value)
    return EMPTY if moment is None else text_pt.date_br(moment)


def yes_no(value: Any) -> str:
    return "Sim" if value else "Não"


FILTERS = {
    "integer": integer,
    "decimal": decimal,
    "money": money,
    "km": km,
    "datetime_br": datetime_br,
    "date_br": date_br,
    "yes_no": yes_no,
}


def install(env: Environment) -> None:
    """Register the console's filters on a Jinja environment."""
    env.filters.update(FILTERS)
