"""Forecasting: the demand-forecasting engine (classification, selection, quantiles) and its CLI."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="forecasting",
    label="Previsão",
    cli=(("forecast", "sincro.forecasting.cli:forecast_app"),),
)
