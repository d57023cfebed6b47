"""Shapes of the public (widget) endpoints and of the site keys' admin API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from sincro.assistant.schemas import CustomerText
from sincro.inputs import PlainText


class PublicConversationOut(BaseModel):
    id: int
    token: str = Field(description="The conversation's token (shown once): Authorization: Bearer")


class PublicMessageIn(BaseModel):
    text: CustomerText = Field(
        description="What the customer wrote (at most SINCRO_ASSISTANT_PUBLIC_MAX_TEXT_CHARS)"
    )


class ActionOut(BaseModel):
    type: str = Field(description="handoff, show_stores, send_invoice, ask_identity, …")
    data: dict[str, Any] = Field(default_factory=dict)


class PublicReplyOut(BaseModel):
    reply: str = Field(description="The bot's answer (empty while a person answers)")
    intent: str | None
    confidence: float | None
    state: str = Field(description="bot, waiting_agent, agent or closed")
    actions: list[ActionOut]
    seq: int = Field(description="The sequence number of the customer's message")
    last_seq: int = Field(description="The conversation's last message after this turn")


class PublicMessageOut(BaseModel):
    seq: int
    sender: str = Field(description="customer, bot, agent or system")
    text: str
    actions: list[ActionOut]
    at: dt.datetime


class PublicMessagesOut(BaseModel):
    state: str
    messages: list[PublicMessageOut]
    position: int | None = Field(
        default=None, description="Place in the queue while waiting for a person (1: next)"
    )
    estimated_wait_minutes: int | None = Field(
        default=None, description="Estimated wait while waiting (null: no recent waits)"
    )


class SiteKeyIn(BaseModel):
    name: PlainText = Field(min_length=1, max_length=80)
    origins: list[PlainText] = Field(
        min_length=1, max_length=20, description="e.g. https://loja.example (no path)"
    )
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)


class SiteKeyOut(BaseModel):
    id: int
    name: str
    public_key: str = Field(description="Publishable: goes in the page's data-site-key")
    origins: list[str]
    active: bool
    rate_limit_per_minute: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    model_config = {"from_attributes": True}
