"""Request and response bodies of the webhooks API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN

MAX_URL_LENGTH = 500

WebhookUrl = Annotated[
    AnyHttpUrl,
    UrlConstraints(max_length=MAX_URL_LENGTH, allowed_schemes=["http", "https"]),
]


class WebhookIn(BaseModel):
    """A new subscription: where to POST, and optional filters on SKU and location."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(description="http(s) endpoint that receives signed POSTs")
    sku: str | None = Field(default=None, pattern=SKU_PATTERN, description="Only this SKU")
    location: str | None = Field(
        default=None, pattern=CODE_PATTERN, description="Only this location code"
    )


class WebhookOut(BaseModel):
    """A subscription as the API shows it (never with its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    sku: str | None
    location: str | None
    active: bool = Field(description="False once delivery failed too many times in a row")
    cursor_seq: int = Field(description="Last outbox sequence delivered (or skipped by filter)")
    attempts: int = Field(description="Consecutive failed attempts of the pending batch")
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    """The created subscription with its signing secret: shown this one time only."""

    secret: str = Field(description="HMAC-SHA256 key of Sincro-Signature; store it now")


class DeliveryOut(BaseModel):
    """One HTTP attempt from the delivery log."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int = Field(description="First event sequence of the batch")
    attempt: int
    success: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: dt.datetime
