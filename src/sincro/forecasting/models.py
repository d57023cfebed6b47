"""Forecast runs, their chunks, per-series results, stored forecasts and the registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class ForecastRun(Base):
    """One run: what it forecast (scope), from which data window, with which parameters and
    library versions; its progress and, once done, its metrics per demand pattern. The run's
    id is its version."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    level: Mapped[str] = mapped_column(String(12))
    scope: Mapped[Any] = mapped_column(JSON)
    params: Mapped[Any] = mapped_column(JSON)
    versions: Mapped[Any] = mapped_column(JSON)
    data_start: Mapped[dt.date] = mapped_column(Date)
    data_end: Mapped[dt.date] = mapped_column(Date)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    series_done: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ForecastChunk(Base):
    """A slice of a run's SKUs, done by one task. ``pending`` → ``running`` (a lease) →
    ``done``; a chunk whose lease ran out (a killed worker) is taken again, a done one never."""

    __tablename__ = "forecast_chunks"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    skus: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(120))
    series: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ForecastSeries(Base):
    """What a run learned about one series: its demand pattern, champion and backtest
    scores (MASE, quantile loss, P10–P90 coverage over ``coverage_points`` actuals), flags
    (short, fallback, failed models, unreconciled)."""

    __tablename__ = "forecast_series"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    pattern: Mapped[str] = mapped_column(String(16))
    champion: Mapped[str] = mapped_column(String(60))
    mase: Mapped[float | None] = mapped_column(Float)
    quantile_loss: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)  # backtest share inside P10–P90
    coverage_points: Mapped[int] = mapped_column(Integer, default=0)  # actuals it scored
    scale: Mapped[float | None] = mapped_column(Float)  # the unit of the error paths
    flags: Mapped[str] = mapped_column(String(200), default="")


class ForecastValue(Base):
    """One forecast day of one series: the mean and every quantile level (``{"10": …}``)."""

    __tablename__ = "forecast_values"
    __table_args__ = (Index("ix_forecast_values_lookup", "sku", "key", "run_id"),)

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    mean: Mapped[float] = mapped_column(Float)
    quantiles: Mapped[Any] = mapped_column(JSON)


class ForecastErrorPool(Base):
    """Backtest error paths of a chunk's champions per demand pattern (scaled: times a
    series' ``scale`` they are units), sampled to draw whole future paths — the distribution
    of TOTAL demand over a lead time, which a sum of daily quantiles would get wrong."""

    __tablename__ = "forecast_error_pools"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(16), primary_key=True)
    paths: Mapped[Any] = mapped_column(JSON)  # rows of floats, null past a shorter window


class ForecastPromotion(Base):
    """The registry: the run serving a level since ``promoted_at``; a rollback closes the
    current promotion and the previous one serves again."""

    __tablename__ = "forecast_promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(12), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    promoted_by: Mapped[str] = mapped_column(String(120))
    promoted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rolled_back_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ForecastMonitorDay(Base):
    """How the live forecasts of a run did on one day, per demand pattern, once the actuals
    arrived: series compared (censored days left out), scaled absolute error summed (divide
    by ``series`` for the mean, comparable with the backtest MASE) and how many actuals fell
    inside P10–P90."""

    __tablename__ = "forecast_monitor"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(16), primary_key=True)
    series: Mapped[int] = mapped_column(Integer)
    scaled_error: Mapped[float] = mapped_column(Float)
    inside: Mapped[int] = mapped_column(Integer)
