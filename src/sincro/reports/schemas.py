"""Inputs and outputs of the reports API; the report names and who may read each."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sincro.text_pt import is_valid_email

ReportName = Literal["new_customers", "defaulters", "billing"]
Cadence = Literal["daily", "weekly", "monthly"]

#: report -> (pt-BR title, roles besides admin that may read it, URL slug)
REPORTS: dict[str, tuple[str, frozenset[str], str]] = {
    "new_customers": ("Novos clientes", frozenset({"marketing", "billing"}), "new-customers"),
    "defaulters": ("Inadimplência", frozenset({"billing"}), "defaulters"),
    "billing": ("Faturamento", frozenset({"billing"}), "billing"),
    "campaigns": ("Resultados de campanhas", frozenset({"marketing"}), "campaigns"),
}
SCHEDULABLE: tuple[str, ...] = ("new_customers", "defaulters", "billing")
CADENCES: dict[str, str] = {"daily": "diário", "weekly": "semanal", "monthly": "mensal"}
WEEKDAYS_PT = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


def may_read(role: str | None, report: str) -> bool:
    """Admins read every report; billing and marketing the ones listed for them."""
    if role == "admin":
        return True
    found = REPORTS.get(report)
    return found is not None and role is not None and role in found[1]


# --- schedule parameters (relative to the day the e-mail goes out) ---------------------------


class NewCustomersParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grain: Literal["day", "week", "month"] = "day"
    days: int = Field(default=30, ge=1, le=1096, description="The last N days, today included")


class DefaultersParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BillingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    months: int = Field(default=12, ge=1, le=36, description="The last N months, this one too")


PARAMS: dict[str, type[BaseModel]] = {
    "new_customers": NewCustomersParams,
    "defaulters": DefaultersParams,
    "billing": BillingParams,
}


class ScheduleIn(BaseModel):
    """A report e-mailed to ``recipients`` every day, week (on ``weekday``, 0 = Monday) or
    month (on ``day_of_month``) at ``hour`` in the reports' time zone."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    report: ReportName
    params: dict[str, Any] = Field(default_factory=dict)
    recipients: list[str] = Field(min_length=1, max_length=200)
    cadence: Cadence
    hour: int = Field(ge=0, le=23)
    weekday: int = Field(default=0, ge=0, le=6)
    day_of_month: int = Field(default=1, ge=1, le=28)

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        cleaned = []
        for index, address in enumerate(value):
            address = address.strip().lower()
            if not is_valid_email(address):
                raise ValueError(f"recipient {index + 1} is not an e-mail address")
            if address not in cleaned:
                cleaned.append(address)
        return cleaned

    @model_validator(mode="after")
    def _params(self) -> ScheduleIn:
        self.params = PARAMS[self.report].model_validate(self.params).model_dump()
        return self


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    report: str
    params: dict[str, Any]
    recipients: list[str]
    cadence: str
    hour: int
    weekday: int
    day_of_month: int
    active: bool
    created_by: str
    created_at: dt.datetime
    last_period: str | None = None
    last_status: str | None = None


class SchedulesOut(BaseModel):
    items: list[ScheduleOut]


# --- report outputs --------------------------------------------------------------------------


class RegionSeries(BaseModel):
    name: str = Field(description="UF or macro-region")
    counts: list[int] = Field(description="Aligned with periods")
    total: int


class NewCustomersOut(BaseModel):
    start: dt.date
    end: dt.date
    grain: str
    periods: list[str]
    regions: list[RegionSeries]
    states: list[RegionSeries]
    total: int


class AgingOut(BaseModel):
    bucket: str = Field(description="Days past due: 1-30, 31-60, 61-90, 90+")
    titles: int
    customers: int
    amount: Decimal


class StateDefaultersOut(BaseModel):
    state: str = Field(description="UF (?? when unknown)")
    region: str
    customers: int = Field(description="Customers with anything overdue")
    defaulters: int = Field(description="Customers overdue more than the grace days")
    titles: int
    amount: Decimal
    buckets: list[AgingOut]


class DefaultersOut(BaseModel):
    as_of: dt.date
    grace_days: int
    customers: int
    defaulters: int
    titles: int
    amount: Decimal
    buckets: list[AgingOut]
    states: list[StateDefaultersOut]


class BillingMonthOut(BaseModel):
    month: str
    invoiced_titles: int
    invoiced: Decimal
    received_titles: int
    received: Decimal


class BillingOut(BaseModel):
    start: dt.date
    end: dt.date
    as_of: dt.date
    months: list[BillingMonthOut]
    invoiced: Decimal
    received: Decimal
    open_count: int
    open_amount: Decimal
    overdue_count: int
    overdue_amount: Decimal
    overdue_share: float = Field(description="Overdue amount / open amount, 0..1")
