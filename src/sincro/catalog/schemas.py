from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sincro.catalog.models import LocationKind, PlanKind, PromotionChannel
from sincro.catalog.timezones import DEFAULT_ZONE as DEFAULT_ZONE, zone_for
from sincro.inputs import PlainText
from sincro.text_pt import is_zone

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"
SUPPLIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,19}$"
DIRECTORY_CODES_MAX = 500
#: Product fields an update leaves alone when the input does not give them (an ERP or a
#: mapping that does not know them must not erase what another source or an admin set).
PRODUCT_OPTIONAL_ATTRIBUTES = ("lead_time_days", "pack_size", "supplier_code")
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
    lead_time_days: int | None = Field(
        default=None, ge=0, le=3650, description="Supplier lead time in days (SB1 B1_PE)"
    )
    pack_size: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Units per purchase pack (SB1 B1_QE)"
    )
    supplier_code: str | None = Field(
        default=None, pattern=SUPPLIER_PATTERN, description="Main supplier's code (SB1 B1_PROC)"
    )


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


# --- offers: prices, telecom plans, promotions -------------------------------------------
# Cross-field rules are field validators on the later field (``validate_default``), so a
# refusal names the field to fix (``valid_to``, ``sale_price``, ``plan``, ``promo_price``).

Money = Annotated[
    Decimal, Field(ge=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2)
]


def _not_before_start(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    start = info.data.get("valid_from")
    if value is not None and start is not None and value < start:
        raise ValueError("valid_to is before valid_from")
    return value


class PriceIn(BaseModel):
    """A product's price from ``valid_from`` (through ``valid_to`` inclusive; open when
    absent): its list price and, while on sale, a lower sale price. Currency: BRL."""

    model_config = ConfigDict(extra="forbid")

    valid_from: dt.date
    valid_to: dt.date | None = None
    list_price: Money
    sale_price: Money | None = None
    currency: Literal["BRL"] = "BRL"

    _valid_to = field_validator("valid_to")(_not_before_start)

    @field_validator("sale_price")
    @classmethod
    def _sale_below_list(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        list_price = info.data.get("list_price")
        if value is not None and list_price is not None and value > list_price:
            raise ValueError("sale_price is above list_price")
        return value


class PriceOut(PriceIn):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    sku: str
    source: str

    @property
    def effective(self) -> Decimal:
        """What the customer pays: the sale price while there is one."""
        return self.sale_price if self.sale_price is not None else self.list_price


class PlanIn(BaseModel):
    """A telecom plan: kind (pré-pago, controle, pós-pago, fibra, combo), monthly price and
    data allowance in GB (absent: unlimited, or not applicable as for fibre)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Unique plan code, e.g. CTRL-25GB")
    name: PlainText = Field(min_length=1, max_length=120)
    kind: PlanKind
    monthly_price: Annotated[
        Decimal, Field(ge=0, le=Decimal("99999999.99"), max_digits=10, decimal_places=2)
    ]
    data_gb: int | None = Field(default=None, ge=0, le=100_000)
    active: bool = True


class PlanOut(PlanIn):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: str = Field(min_length=1, max_length=120)
    source: str


class PromotionIn(BaseModel):
    """A discount on one product (``sku``) or one plan (``plan``): a percentage or a
    promotional price, from ``valid_from`` through ``valid_to`` (inclusive), in a channel."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Unique promotion code")
    name: PlainText = Field(min_length=1, max_length=200)
    sku: str | None = Field(default=None, pattern=SKU_PATTERN)
    plan: str | None = Field(default=None, pattern=CODE_PATTERN, validate_default=True)
    discount_percent: Decimal | None = Field(
        default=None, gt=0, le=100, max_digits=5, decimal_places=2
    )
    promo_price: Money | None = Field(default=None, validate_default=True)
    valid_from: dt.date
    valid_to: dt.date | None = None
    channel: PromotionChannel = PromotionChannel.any
    active: bool = True

    _valid_to = field_validator("valid_to")(_not_before_start)

    @field_validator("plan")
    @classmethod
    def _one_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "sku" in info.data and (info.data["sku"] is None) == (value is None):
            raise ValueError("give exactly one of sku or plan")
        return value

    @field_validator("promo_price")
    @classmethod
    def _one_discount(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if "discount_percent" in info.data and (info.data["discount_percent"] is None) == (
            value is None
        ):
            raise ValueError("give exactly one of discount_percent or promo_price")
        return value


class PromotionOut(PromotionIn):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: str = Field(min_length=1, max_length=200)
    source: str
