"""Requests and answers of forecast runs, forecasts and the registry."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from sincro.catalog.schemas import SKU_PATTERN

Level = Literal["location", "uf", "dc_region", "online", "total"]


class RunScope(BaseModel):
    """What a run forecasts: every SKU (or the given ones) at one level of the location
    hierarchy, ``horizon`` days ahead, fitted on the last ``history_days`` days; with
    ``hierarchy``, at store, UF and national level at once, reconciled."""

    model_config = ConfigDict(extra="forbid")

    level: Level = "uf"
    skus: list[str] | None = Field(default=None, max_length=20_000)
    horizon: int = Field(default=28, ge=1, le=365)
    history_days: int = Field(default=730, ge=28, le=1100)
    levels: list[int] = Field(default=[10, 50, 90], min_length=1, max_length=20)
    backtest_windows: int = Field(default=2, ge=1, le=12)
    skus_per_chunk: int = Field(default=20, ge=1, le=5000)
    # store → UF → national in one run, reconciled so totals add up (level must be location)
    hierarchy: bool = False

    @field_validator("hierarchy")
    @classmethod
    def _hierarchy(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("level") != "location":
            raise ValueError("a hierarchical run starts at the stores: level must be 'location'")
        return value

    @field_validator("skus")
    @classmethod
    def _skus(cls, value: list[str] | None) -> list[str] | None:
        import re

        if value is None:
            return None
        bad = [s for s in value if not re.match(SKU_PATTERN, s)]
        if bad:
            raise ValueError(f"not a SKU: {bad[0][:60]!r}")
        return sorted(set(value))

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        if any(not 0 < level < 100 for level in value):
            raise ValueError("quantile levels are whole percents between 1 and 99")
        return sorted(set(value))


class RunOut(BaseModel):
    id: int
    status: str
    level: str
    scope: dict[str, Any]
    params: dict[str, Any]
    versions: dict[str, str]
    data_start: dt.date
    data_end: dt.date
    chunks_total: int
    chunks_done: int
    series_done: int
    progress: float
    metrics: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    promoted: bool = False


class ForecastPoint(BaseModel):
    day: dt.date
    mean: float
    quantiles: dict[str, float]


class ForecastOut(BaseModel):
    sku: str
    level: str
    key: str
    run_id: int
    pattern: str
    model: str
    flags: list[str]
    points: list[ForecastPoint]


class PromotionOut(BaseModel):
    id: int
    level: str
    run_id: int
    promoted_by: str
    promoted_at: dt.datetime
    rolled_back_at: dt.datetime | None
