"""Errors of the forecasting domain."""

from __future__ import annotations

from sincro.errors import InvalidInput


class InvalidSeries(InvalidInput):
    """Input history that cannot be forecast as given (the message names line and column)."""

    code = "invalid_series"
