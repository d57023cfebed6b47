"""Messaging's API input and output."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sincro.customers.schemas import Purpose, Segment
from sincro.inputs import PlainText

CampaignState = Literal["draft", "scheduled", "running", "paused", "cancelled", "completed"]
LEDGER_STATUSES = (
    "pending",
    "sending",
    "sent",
    "failed",
    "bounced",
    "suppressed",
    "cancelled",
)
VARIABLE_PATTERN = r"^[a-z_][a-z0-9_]{0,39}$"


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,79}$")
    name: PlainText = Field(min_length=1, max_length=200)
    purpose: Purpose = "marketing"
    variables: list[str] = Field(default_factory=list, max_length=40)
    subject: str = Field(min_length=1, max_length=1000)
    html: str = Field(min_length=1, max_length=200_000)
    text: str = Field(min_length=1, max_length=200_000)

    @field_validator("variables")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        import re

        bad = [v for v in value if not re.match(VARIABLE_PATTERN, v)]
        if bad:
            raise ValueError(f"not variable names: {', '.join(bad)}")
        return sorted(set(value))


class TemplateUpdate(BaseModel):
    """A new version (the old ones stay: campaigns pinned them)."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=1000)
    html: str = Field(min_length=1, max_length=200_000)
    text: str = Field(min_length=1, max_length=200_000)


class TemplatePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=1000)
    html: str = Field(max_length=200_000)
    text: str = Field(max_length=200_000)
    purpose: Purpose = "marketing"
    variables: list[str] = Field(default_factory=list, max_length=40)
    customer_id: int | None = Field(default=None, ge=1)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    purpose: str
    variables: list[str]
    system: bool
    current_version: int
    updated_at: dt.datetime


class TemplateDetail(TemplateOut):
    subject: str
    html: str
    text: str
    versions: list[int]


class PreviewOut(BaseModel):
    ok: bool
    subject: str = ""
    html: str = ""
    text: str = ""
    error: str | None = None
    field: str | None = None
    line: int | None = None


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=200)
    template_id: int = Field(ge=1)
    audience: Segment = Field(default_factory=Segment)
    start_at: dt.datetime | None = None
    rate_per_second: float | None = Field(default=None, gt=0, le=100_000)
    sender: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=200)


class CampaignCounts(BaseModel):
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    suppressed: int = 0
    unsubscribed: int = 0
    cancelled: int = 0
    in_doubt: int = 0


class CampaignOut(BaseModel):
    id: int
    name: str
    kind: str
    state: str
    purpose: str
    template_id: int | None
    template_version: int | None
    audience: dict[str, object]
    audience_total: int
    materialized: bool
    start_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rate_per_second: float
    sender: str
    reply_to: str | None
    counts: CampaignCounts
    throughput_per_minute: float  # sent in the last minute
    throughput_per_hour_overall: float  # sent since start, per hour


class MinutePoint(BaseModel):
    minute: dt.datetime
    sent: int
    failed: int


class Retried(BaseModel):
    reset: int


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a transactional message (an invoice's PDF)."""

    filename: str
    content_type: str
    content: bytes
