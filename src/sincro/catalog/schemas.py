from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sincro.catalog.models import LocationKind
from sincro.inputs import PlainText

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"


class _LocationFields(BaseModel):
    """A location's fields as stored (ERP-loaded text may hold what the API refuses)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Unique location code, e.g. LJ0001")
    kind: LocationKind
    name: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=120)
    state: str = Field(pattern=r"^[A-Z]{2}$", description="UF, e.g. SP")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    ships_online: bool = False
    pickup_enabled: bool = False
    active: bool = True


class LocationIn(_LocationFields):
    """A location as the API accepts it: no control characters in its text."""

    name: PlainText = Field(min_length=1, max_length=200)
    city: PlainText = Field(min_length=1, max_length=120)


class LocationOut(_LocationFields):
    model_config = ConfigDict(from_attributes=True)


class _ProductFields(BaseModel):
    """A product's fields as stored (ERP-loaded text may hold what the API refuses)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(pattern=SKU_PATTERN)
    ean: str | None = Field(default=None, pattern=r"^\d{8,14}$")
    name: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=80)
    unit: str = Field(default="UN", min_length=1, max_length=8)
    active: bool = True


class ProductIn(_ProductFields):
    """A product as the API accepts it: no control characters in its text."""

    name: PlainText = Field(min_length=1, max_length=300)
    category: PlainText = Field(min_length=1, max_length=80)
    unit: PlainText = Field(default="UN", min_length=1, max_length=8)


class ProductOut(_ProductFields):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
