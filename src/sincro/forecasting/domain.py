"""Forecasting: the demand-forecasting engine (classification, selection, quantiles), runs
in chunks on the ``forecast`` workers, the registry, and the CLI."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="forecasting",
    label="Previsão",
    models=("sincro.forecasting.models",),
    routers=("sincro.forecasting.endpoints:router",),
    task_modules=("sincro.forecasting.tasks",),
    queues=("forecast",),
    task_routes={"sincro.forecasting.*": "forecast"},
    beat="sincro.forecasting.schedule:beat_entries",
    cli=(("forecast", "sincro.forecasting.cli:forecast_app"),),
)
