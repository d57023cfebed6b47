"""Automation's API shapes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from sincro.automation.kinds import Kind
from sincro.inputs import PlainText


class RuleIn(BaseModel):
    """When a customer has an interest of ``kind`` at least ``min_strength`` strong (an
    interaction adds its confidence, 0 to 1; strength halves every half-life) seen in the
    last ``within_days`` days, send the marketing template ``template_id``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=1, max_length=120)
    kind: Kind
    min_strength: float = Field(default=0.5, ge=0, le=100)
    within_days: int = Field(default=7, ge=1, le=365)
    template_id: int = Field(ge=1, le=2**31 - 1)
    active: bool = True


class RuleOut(RuleIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class InterestGroup(BaseModel):
    """Customers interested in one thing lately (an aggregate: nobody is named)."""

    kind: Kind
    ref: str
    customers: int
    interactions: int
    last_seen: dt.datetime


class RuleResult(BaseModel):
    rule_id: int
    name: str
    kind: Kind
    offers: int
    conversions: int


class DayResult(BaseModel):
    day: dt.date
    offers: int
    conversions: int


class Results(BaseModel):
    """Offers sent and converted from ``start`` to ``end`` (days in the console's zone)."""

    start: dt.date
    end: dt.date
    conversion_days: int
    rules: list[RuleResult]
    days: list[DayResult]
