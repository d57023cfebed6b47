from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.inputs import PlainText
from sincro.inventory.models import (
    MAX_LEVEL,
    Bucket as Bucket,  # re-exported for other domains
    Reason as Reason,
)

MAX_LINES = 500
MAX_MOVEMENT_QUANTITY = 1_000_000  # base units per movement line, either sign
MAX_RESERVATION_QTY = 100_000
# The schema's ceiling for any TTL; the deployment's own bound (reservation_max_ttl_seconds,
# at most this) is checked by the endpoints.
MAX_TTL_SECONDS = 30 * 24 * 3600


# Business times outside these are typing errors, and near the ends of Python's calendar they
# cannot even be converted to UTC (year 1 at +03:00 was a 500).
EARLIEST_BUSINESS_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_BUSINESS_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-11-22T10:00:00-03:00")
    if not EARLIEST_BUSINESS_TIME <= value < LATEST_BUSINESS_TIME:
        raise ValueError("must be between 1970-01-01 and 2100-01-01")
    return value


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
LocationCode = Annotated[str, Field(pattern=CODE_PATTERN)]


class MovementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity: StrictInt = Field(
        description="Signed change, never zero",
        ge=-MAX_MOVEMENT_QUANTITY,
        le=MAX_MOVEMENT_QUANTITY,
    )
    reason: Reason
    bucket: Bucket = Bucket.on_hand
    occurred_at: AwareDatetime | None = Field(default=None, description="Business time")
    reference: PlainText | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _check(self) -> MovementIn:
        if self.quantity == 0:
            raise ValueError("quantity must not be zero")
        if self.bucket == Bucket.reserved:
            raise ValueError("reserved stock changes only through reservations")
        return self


class MovementBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    movements: list[MovementIn] = Field(min_length=1, max_length=MAX_LINES)


class LevelOut(BaseModel):
    sku: str
    location: str
    on_hand: int
    reserved: int
    blocked: int
    safety_stock: int
    available: int
    version: int
    as_of: dt.datetime


class MovementResult(BaseModel):
    applied: int
    levels: list[LevelOut]


class StockCountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_hand: StrictInt = Field(ge=0, le=MAX_LEVEL)
    safety_stock: StrictInt | None = Field(default=None, ge=0, le=MAX_LEVEL)
    reason: Reason = Reason.physical_count


class GeoPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ReservationLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    qty: StrictInt = Field(ge=1, le=MAX_RESERVATION_QTY)
    location: LocationCode | None = None


class ReservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ReservationLineIn] = Field(min_length=1, max_length=100)
    ttl_seconds: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_TTL_SECONDS,
        description="Seconds the hold lasts (default and upper bound are deployment settings)",
    )
    ship_to: GeoPoint | None = None
    order_reference: PlainText | None = Field(default=None, max_length=80)
    customer_id: StrictInt | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="The customer the order is for (Sincro's customer id), when known: the "
        "service assistant tells that customer, once verified, the order's status",
    )


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: StrictInt = Field(
        ge=1, le=MAX_TTL_SECONDS, description="Seconds from now (at most the deployment's bound)"
    )


class HeldLine(BaseModel):
    sku: str
    location: str
    qty: int


class ReservationOut(BaseModel):
    id: str
    status: str
    order_reference: str | None
    customer_id: int | None = None
    expires_at: dt.datetime
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    lines: list[HeldLine]


class AvailabilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skus: list[Sku] = Field(min_length=1, max_length=MAX_LINES)
    location: LocationCode | None = None


class LocationAvailability(BaseModel):
    """One location's row of a SKU's availability."""

    location: str
    name: str
    kind: str
    city: str
    state: str
    available: int
    on_hand: int
    reserved: int
    version: int
    as_of: dt.datetime | None
    distance_km: float | None = Field(default=None, description="Only with near=")


class AvailabilityOut(BaseModel):
    """A SKU's online availability; ``locations`` (and ``total``, ``offset``, ``limit``)
    only when one location, ``near=`` or ``all=true`` was asked for."""

    sku: str
    name: str
    online_available: int = Field(description="Sum over active locations that ship online")
    locations_with_stock: int
    total: int | None = None
    offset: int | None = None
    limit: int | None = None
    locations: list[LocationAvailability] | None = None


class AvailabilityBatchOut(BaseModel):
    items: list[AvailabilityOut]
    unknown: list[str] = Field(description="Requested SKUs that do not exist")


class AvailabilityParams(BaseModel):
    """Query parameters of ``GET /v1/availability/{sku}``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    location: LocationCode | None = Field(default=None, description="One location's row")
    near: str | None = Field(
        default=None, description="lat,lon: locations with stock near a point, nearest first"
    )
    radius_km: float = Field(default=25.0, gt=0, le=3000, description="Radius for near=")
    all_locations: bool = Field(default=False, alias="all", description="Every location, paginated")
    in_stock: bool = Field(default=False, description="With all=true: only locations with stock")
    offset: int = Field(default=0, ge=0, le=1_000_000)
    limit: int = Field(default=50, ge=1, le=500)
