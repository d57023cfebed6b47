from __future__ import annotations

from typing import Annotated, Generic, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from sincro.catalog.models import LocationKind
from sincro.catalog.timezones import DEFAULT_ZONE as DEFAULT_ZONE, zone_for
from sincro.inputs import PlainText
from sincro.text_pt import is_zone

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"
DIRECTORY_CODES_MAX = 500
DirectoryKind = Literal["location", "product"]


class DirectoryChanged(BaseModel):
    """Payload of the ``directory.changed`` topic: locations or products were created or
    changed, so every process drops what it derived from the old directory."""

    kind: DirectoryKind
    codes: list[str] = Field(
        default_factory=list,
        max_length=DIRECTORY_CODES_MAX,
        description="Location codes or SKUs; empty when more changed at once (treat as all)",
    )


ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$"


def _known_zone(name: str) -> str:
    if not is_zone(name):
        raise ValueError(f"unknown IANA time zone {name!r}, e.g. America/Sao_Paulo")
    return name


TimeZoneName = Annotated[
    str, Field(max_length=40, pattern=ZONE_PATTERN), AfterValidator(_known_zone)
]


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
    time_zone: TimeZoneName | None = Field(
        default=None,
        description="IANA time zone for times shown to people about this location "
        "(default: from the UF, e.g. America/Manaus for AM; America/Noronha for "
        "Fernando de Noronha). The API itself always answers in UTC.",
        examples=["America/Sao_Paulo"],
    )

    @model_validator(mode="after")
    def _zone(self) -> Self:
        if self.time_zone is None:
            self.time_zone = zone_for(self.state, self.city)
        return self


class LocationIn(_LocationFields):
    """A location as the API accepts it: no control characters in its text."""

    name: PlainText = Field(min_length=1, max_length=200)
    city: PlainText = Field(min_length=1, max_length=120)


class LocationOut(_LocationFields):
    model_config = ConfigDict(from_attributes=True)

    time_zone: str = Field(description="IANA time zone (see LocationIn)")


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
