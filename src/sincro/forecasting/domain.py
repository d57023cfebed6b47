"""Forecasting: the demand-forecasting engine (classification, selection, quantiles), runs
in chunks on the ``forecast`` workers, the registry, and the CLI."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="forecasting",
    label="Previsão",
    models=("sincro.forecasting.models",),
    routers=("sincro.forecasting.endpoints:router",),
    console_routers=("sincro.console.forecasting.routes:router",),
    nav=(NavEntry("forecasts", "Previsão de demanda", "console_forecasts", order=60),),
    task_modules=("sincro.forecasting.tasks",),
    queues=("forecast",),
    task_routes={"sincro.forecasting.*": "forecast"},
    beat="sincro.forecasting.schedule:beat_entries",
    cli=(("forecast", "sincro.forecasting.cli:forecast_app"),),
)
