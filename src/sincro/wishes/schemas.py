from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sincro.inputs import PlainText
from sincro.text_pt import UFS

Source = Literal["web", "chat", "api"]
Scope = Literal["location", "online", "city"]
ONLINE = "online"


class WishIn(BaseModel):
    """Tell ``customer_id`` (or the known customer with ``email``) when ``sku`` is available
    at ``location`` (a location code, or ``"online"``) or at any store of ``city``/``state``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    email: str | None = Field(default=None, min_length=3, max_length=200)
    sku: PlainText = Field(min_length=1, max_length=40)
    location: PlainText | None = Field(default=None, min_length=1, max_length=32)
    city: PlainText | None = Field(default=None, min_length=1, max_length=120)
    state: str | None = Field(default=None, min_length=2, max_length=2)
    source: Source = "api"

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in UFS:
            raise ValueError("not a Brazilian UF")
        return value.upper()

    @model_validator(mode="after")
    def _one_place(self) -> WishIn:
        if (self.customer_id is None) == (self.email is None):
            raise ValueError("give customer_id or email (one of them)")
        if (self.location is None) == (self.city is None):
            raise ValueError("give location (a code or 'online') or city and state")
        if self.city is not None and self.state is None:
            raise ValueError("a city needs its state (UF)")
        return self

    @property
    def scope(self) -> Scope:
        if self.city is not None:
            return "city"
        return "online" if self.location == ONLINE else "location"


class WishOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    sku: str
    scope: Scope
    location_code: str | None
    city: str | None
    state: str | None
    source: Source
    created_at: dt.datetime
    notified_at: dt.datetime | None
    notified_via: str | None
    trigger_seq: int | None
    trigger_location: str | None


class WishCreated(WishOut):
    created: bool
