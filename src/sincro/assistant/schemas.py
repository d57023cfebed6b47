"""The assistant's API shapes: ``POST /v1/assistant/parse`` and the conversations."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: Hard cap of the schema; the setting ``assistant_max_text_chars`` may lower it.
MAX_TEXT_CHARS = 10_000
# Customer text may span lines (several sentences) but never carries NUL or other controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_controls(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        name = "NUL" if found.group() == "\x00" else f"U+{ord(found.group()):04X}"
        raise ValueError(f"must not contain control characters ({name} at {found.start()})")
    return value


_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
CustomerText = Annotated[
    str,
    AfterValidator(_no_controls),
    Field(max_length=MAX_TEXT_CHARS, json_schema_extra={"pattern": _PATTERN}),
]

EntityType = Literal[
    "cpf", "cnpj", "email", "phone", "cep", "invoice", "order", "city", "uf", "product"
]  # fmt: skip


class ParseIn(BaseModel):
    text: CustomerText = Field(description="What the customer wrote (pt-BR, as typed)")


class EntityOut(BaseModel):
    type: EntityType
    value: str = Field(description="The span as written: text[start:end]")
    normalized: str = Field(
        description="cpf/cnpj formatted, phone +55DDDNUMBER, cep 00000-000, email lower case, "
        "city 'Name/UF', uf its code, product its SKU, order/invoice the number or code"
    )
    start: int = Field(ge=0, description="Offset of the span in the text (code points)")
    end: int = Field(ge=0)
    valid: bool = Field(default=True, description="False for a CPF or CNPJ whose check digits fail")


class ParseOut(BaseModel):
    intent: str
    confidence: float = Field(ge=0, le=1, description="Calibrated probability of the intent")
    clarify: bool = Field(
        description="Confidence below SINCRO_ASSISTANT_CONFIDENCE_THRESHOLD: ask to clarify"
    )
    entities: list[EntityOut]


# --- conversations ----------------------------------------------------------------------------

ConversationState = Literal["bot", "waiting_agent", "agent", "closed"]


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,19}$",
        description="The channel the customer writes on (api, app, whatsapp…), lower case",
    )
    external_ref: str | None = Field(
        default=None,
        max_length=120,
        pattern=_PATTERN,
        description="The channel's own id of the customer's session (never shown to agents)",
    )
    customer_id: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="Only when the channel itself has verified who the customer is (a signed-in "
        "app): the bot then answers invoices and orders without asking for the CPF",
    )


class ConversationCreated(BaseModel):
    id: int
    token: str = Field(description="The conversation's token, shown once (widget endpoints)")
    state: ConversationState


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CustomerText = Field(min_length=1, description="What the customer wrote")


class ActionOut(BaseModel):
    type: str = Field(
        description="handoff, show_stores, show_document, send_invoice, ask_identity, "
        "show_offers, show_debts, order_status, show_signup, show_privacy"
    )
    data: dict[str, Any]


class ReplyOut(BaseModel):
    reply: str = Field(description="The bot's answer (empty while a person has the conversation)")
    intent: str
    confidence: float = Field(ge=0, le=1)
    state: ConversationState
    actions: list[ActionOut]
    seq: int = Field(ge=1, description="Sequence number of the customer's message")


class MessageOut(BaseModel):
    seq: int
    sender: Literal["customer", "bot", "agent", "system"]
    text: str
    intent: str | None
    confidence: float | None
    actions: list[ActionOut]
    created_at: dt.datetime


class TranscriptOut(BaseModel):
    id: int
    channel: str
    state: ConversationState
    handoff_reason: str | None
    verified: bool = Field(description="The customer's identity was confirmed")
    created_at: dt.datetime
    last_message_at: dt.datetime
    messages: list[MessageOut]


class DocumentOut(BaseModel):
    id: int
    title: str
    kind: str
    version: int
    sku: str | None
    language: str
    effective_date: dt.date | None
    superseded: bool
    body: str
