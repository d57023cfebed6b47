"""The assistant's API shapes: ``POST /v1/assistant/parse``."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

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
