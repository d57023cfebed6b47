"""Request and response bodies of the webhooks API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.events import STOCK, TOPIC_MAX_LENGTH

MAX_URL_LENGTH = 500

# checked by sincro.safe_http (one parser for checking and sending), not by pydantic
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    Field(json_schema_extra={"format": "uri"}),
]


def subscribed_topics(stored: list[str] | None) -> tuple[str, ...]:
    """The topics of a subscription as stored (NULL for those made before topics: stock)."""
    return tuple(stored) if stored else (STOCK,)


class WebhookIn(BaseModel):
    """A new subscription: where to POST, and optional filters on SKU and location."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(
        description="https endpoint that receives signed POSTs (http only where allowed); "
        "credentials and private, loopback or link-local addresses are refused"
    )
    sku: str | None = Field(default=None, pattern=SKU_PATTERN, description="Only this SKU")
    location: str | None = Field(
        default=None, pattern=CODE_PATTERN, description="Only this location code"
    )
    topics: list[Annotated[str, StringConstraints(max_length=TOPIC_MAX_LENGTH)]] = Field(
        default=[STOCK],
        min_length=1,
        max_length=20,
        description="Outbox topics to deliver (registered ones); default: stock changes only",
    )


class WebhookOut(BaseModel):
    """A subscription as the API shows it (never with its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    sku: str | None
    location: str | None
    topics: list[str] = Field(description="Outbox topics delivered")
    active: bool = Field(description="False once delivery failed too many times in a row")
    cursor_seq: int = Field(description="Last outbox sequence delivered (or skipped by filter)")
    attempts: int = Field(description="Consecutive failed attempts of the pending batch")
    next_attempt_at: dt.datetime | None
    previous_secret_until: dt.datetime | None = Field(
        description="Until then deliveries are also signed with the secret before the last rotation"
    )
    created_at: dt.datetime

    @field_validator("topics", mode="before")
    @classmethod
    def _stock_when_unset(cls, value: list[str] | None) -> list[str]:
        return list(subscribed_topics(value))


class WebhookCreated(WebhookOut):
    """The created subscription with its signing secret: shown this one time only."""

    secret: str = Field(
        description="HMAC-SHA256 key of Sincro-Signature; store it now, it is never shown again"
    )


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
