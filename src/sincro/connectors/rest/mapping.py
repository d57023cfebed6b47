"""Declarative mappings from an ERP's JSON records to Sincro's canonical records.

A mapping file (YAML) describes, per entity: the endpoint, its pagination, where the record
list is, the record key, the incremental filter, and one rule per canonical field::

    entities:
      customers:
        canonical: customer
        path: /rest/api/v1/SA1
        pagination: {style: page, page_param: page, size_param: pageSize, total_path: total}
        records_path: items
        key: [A1_COD, A1_LOJA]
        incremental: {param: S_T_A_M_P_, field: updated_at}
        fields:
          code: {from: [A1_COD, A1_LOJA], join: "-", required: true}
          document: {from: A1_CGC, transforms: [cpf_cnpj], personal: true}

Transforms run in order; each is a name (``strip``) or a one-key mapping (``{date: "%Y%m%d"}``).
An empty string counts as missing: ``default`` fills it, ``required`` rejects it. A record
that breaks a rule is rejected whole, with the field, the rule and the (masked if personal)
value, and never half-applied.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sincro.connectors.config import load_yaml_model
from sincro.text_pt import (
    UFS,
    document_kind,
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_email,
    mask,
    only_digits,
    parse_decimal_br,
)

Canonical = Literal[
    "product", "stock_balance", "customer", "receivable", "product_document", "plan", "promotion"
]

# Canonical fields every mapping of a kind must fill, and those it may fill.
CANONICAL_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "product": (
        frozenset({"sku", "name"}),
        frozenset(
            {"ean", "category", "unit", "updated_at"}
            | {"list_price", "lead_time_days", "pack_size", "supplier_code"}
        ),
    ),
    "stock_balance": (
        frozenset({"sku", "location", "on_hand"}),
        frozenset({"storage", "as_of", "updated_at"}),
    ),
    "customer": (
        frozenset({"code", "name"}),
        frozenset(
            {"document", "email", "phone", "city", "state", "updated_at"}
            | {"birth_date", "customer_since", "plan"}
        ),
    ),
    "receivable": (
        frozenset({"code", "customer_code", "due_date", "amount", "balance"}),
        frozenset({"issued", "updated_at", "number", "paid", "status"}),
    ),
    "product_document": (
        frozenset({"external_id", "title", "body"}),
        frozenset({"sku", "language", "version", "effective_date", "kind", "updated_at"}),
    ),
    "plan": (
        frozenset({"code", "name", "kind", "monthly_price"}),
        frozenset({"data_gb", "active", "updated_at"}),
    ),
    "promotion": (
        frozenset({"code", "name", "valid_from"}),
        frozenset(
            {"sku", "plan", "discount_percent", "promo_price", "valid_to", "channel", "active"}
            | {"updated_at"}
        ),
    ),
}


class RecordRejected(Exception):
    """One record broke one rule (the whole record is rejected)."""

    def __init__(self, field: str, rule: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.field, self.rule, self.value, self.message = field, rule, value, message


@dataclass(frozen=True, slots=True)
class Reject:
    record_key: str
    field: str | None
    rule: str
    value: str | None
    message: str


# --- transforms ---------------------------------------------------------------------------

Transform = Callable[[Any], Any]
UF = frozenset(UFS)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def cpf_cnpj(value: Any) -> str:
    """Digits of a CPF (11) or CNPJ (14) whose check digits hold."""
    digits = only_digits(_text(value))
    if len(digits) == 11:
        if not is_valid_cpf(digits):
            raise ValueError("cpf_check_digits|CPF with wrong check digits")
    elif len(digits) == 14:
        if not is_valid_cnpj(digits):
            raise ValueError("cnpj_check_digits|CNPJ with wrong check digits")
    else:
        raise ValueError(f"document_length|CPF/CNPJ must have 11 or 14 digits, has {len(digits)}")
    return digits


def email(value: Any) -> str:
    text = _text(value).strip().lower()
    if not is_valid_email(text):
        raise ValueError("email|not a valid e-mail address")
    return text


def decimal_comma(value: Any) -> Decimal:
    """``1.234,56`` or ``1234,56`` (Brazilian) to a Decimal; numbers pass through."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    try:
        return parse_decimal_br(_text(value))
    except ValueError:
        raise ValueError(f"decimal|not a decimal number: {value!r}") from None


def decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"decimal|not a decimal number: {value!r}") from None


def integer(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # JSON numbers: 12.0
        return int(value)
    if isinstance(value, str) and value.isdigit():  # the common text case, without Decimal
        return int(value)
    number = value if isinstance(value, Decimal) else decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"integer|not a whole number: {value!r}")
    return int(number)


_HIDDEN_RE = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_BLOCK_TAGS = "p|div|br|li|tr|h[1-6]|ul|ol|table"
_ITEM_RE = re.compile(r"<li\b[^>]*>", re.I)
_BLOCK_RE = re.compile(rf"</?(?:{_BLOCK_TAGS})\b[^>]*>", re.I)
_TAG_RE = re.compile(r"</?[a-zA-Z!][^>]*>")


def html_to_text(value: Any) -> str:
    """Plain text of an HTML fragment: scripts, styles and comments dropped, block tags become
    line breaks (a list item also "- "), other tags vanish, entities are decoded.

    Regular expressions rather than a parser: ERP datasheets are simple fragments, and this
    runs for each of 100,000 documents of a full sync (``html.parser`` took ~140 µs each, most
    of the documents' mapping time)."""
    text = _HIDDEN_RE.sub("", _text(value))
    text = _ITEM_RE.sub("\n- ", text)
    text = _TAG_RE.sub("", _BLOCK_RE.sub("\n", text))
    lines = (" ".join(line.split()) for line in html.unescape(text).splitlines())
    return "\n".join(line for line in lines if line)


def _date(fmt: str) -> Transform:
    def parse(value: Any) -> dt.date:
        text = _text(value).strip()
        try:
            if fmt == "iso":
                return dt.date.fromisoformat(text[:10])
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            shown = "ISO 8601" if fmt == "iso" else fmt
            raise ValueError(f"date|not a date in format {shown}: {text!r}") from None

    return parse


def _datetime(fmt: str) -> Transform:
    seen: dict[str, dt.datetime] = {}  # a page repeats few timestamps (records of one batch)

    def parse(value: Any) -> dt.datetime:
        text = _text(value).strip()
        if text in seen:
            return seen[text]
        moment = _parse_datetime(text)
        if len(seen) < 10_000:
            seen[text] = moment
        return moment

    def _parse_datetime(text: str) -> dt.datetime:
        try:
            if fmt == "iso":
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            else:
                moment = dt.datetime.strptime(text, fmt)
        except ValueError:
            shown = "ISO 8601" if fmt == "iso" else fmt
            raise ValueError(f"datetime|not a date-time in format {shown}: {text!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    return parse


def _lookup(table: dict[str, Any]) -> Transform:
    table = {str(k): v for k, v in table.items()}
    fallback = table.pop("*", None)

    def look(value: Any) -> Any:
        key = _text(value)
        if key in table:
            return table[key]
        if fallback is not None:
            return fallback
        raise ValueError(f"lookup|value {key!r} not in the mapping table")

    return look


def _truncate(size: int) -> Transform:
    return lambda value: _text(value)[:size]


def _non_negative(value: Any) -> Any:
    if value < 0:
        raise ValueError(f"non_negative|must not be negative: {value}")
    return value


def _zero_as_missing(value: Any) -> Any:
    """0 means "not filled" in many ERP numeric fields (Protheus B1_QE): treated as missing."""
    return "" if value == 0 else value


def _flag(value: Any) -> bool:
    """An ERP yes/no field: 1/S/Y/T/true are yes, 0/2/N/F/false are no."""
    text = _text(value).strip().upper()
    if text in ("1", "S", "SIM", "Y", "YES", "T", "TRUE"):
        return True
    if text in ("0", "2", "N", "NAO", "NÃO", "NO", "F", "FALSE"):
        return False
    raise ValueError(f"flag|not a yes/no value: {text!r}")


def _uf(value: Any) -> str:
    text = _text(value).strip().upper()
    if text not in UF:
        raise ValueError(f"uf|not a Brazilian state (UF): {text!r}")
    return text


SIMPLE: dict[str, Transform] = {
    "strip": lambda v: _text(v).strip(),
    "upper": lambda v: _text(v).upper(),
    "lower": lambda v: _text(v).lower(),
    "digits_only": lambda v: only_digits(_text(v)),
    "decimal_comma": decimal_comma,
    "decimal": decimal,
    "int": integer,
    "cpf_cnpj": cpf_cnpj,
    "email": email,
    "html_to_text": html_to_text,
    "non_negative": _non_negative,
    "zero_as_missing": _zero_as_missing,
    "flag": _flag,
    "uf": _uf,
}
WITH_ARGUMENT: dict[str, Callable[[Any], Transform]] = {
    "date": _date,
    "datetime": _datetime,
    "map": _lookup,
    "truncate": _truncate,
}


def compile_transform(spec: str | dict[str, Any]) -> Transform:
    if isinstance(spec, str):
        if spec in SIMPLE:
            return SIMPLE[spec]
        if spec in WITH_ARGUMENT:
            raise ValueError(f"transform {spec!r} needs an argument, e.g. {{{spec}: ...}}")
        raise ValueError(f"unknown transform {spec!r}")
    if len(spec) != 1:
        raise ValueError(f"a transform is one name or a one-key mapping, got {spec!r}")
    ((name, argument),) = spec.items()
    if name not in WITH_ARGUMENT:
        raise ValueError(f"unknown transform {name!r}")
    return WITH_ARGUMENT[name](argument)


# --- the mapping file ----------------------------------------------------------------------


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | list[str] | None = Field(default=None, alias="from")
    join: str = ""
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    default: Any = None
    required: bool = False
    personal: bool = False  # CPF, e-mail…: the value is masked in rejects


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style: Literal["page", "cursor"]
    page_param: str = "page"
    size_param: str = "pageSize"
    first_page: int = 1
    total_path: str | None = "total"
    cursor_param: str = "cursor"
    next_path: str = "next_cursor"
    more_path: str | None = "has_more"


class Incremental(BaseModel):
    """``param`` + ``field``: send the highest applied ``field`` value as ``param``;
    ``cursor: true``: resume from the ERP's own cursor token."""

    model_config = ConfigDict(extra="forbid")

    param: str | None = None
    field: str | None = None
    cursor: bool = False

    @model_validator(mode="after")
    def _one(self) -> Incremental:
        if self.cursor == bool(self.param and self.field):
            raise ValueError("give either cursor: true or both param and field")
        return self


class EntityMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canonical: Canonical
    path: str = Field(pattern=r"^/")
    pagination: Pagination
    records_path: str
    key: list[str] = Field(min_length=1)
    incremental: Incremental | None = None
    params: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldRule]

    @model_validator(mode="after")
    def _canonical_fields(self) -> EntityMapping:
        required, optional = CANONICAL_FIELDS[self.canonical]
        missing = sorted(required - self.fields.keys())
        if missing:
            raise ValueError(f"{self.canonical} mapping lacks field(s) {', '.join(missing)}")
        unknown = sorted(self.fields.keys() - required - optional)
        if unknown:
            raise ValueError(f"{self.canonical} has no field(s) {', '.join(unknown)}")
        if self.incremental and self.incremental.cursor and self.pagination.style != "cursor":
            raise ValueError("incremental cursor needs cursor pagination")
        if self.incremental and self.incremental.field not in (None, *self.fields):
            raise ValueError(f"incremental field {self.incremental.field!r} is not mapped")
        for name, rule in self.fields.items():
            for spec in rule.transforms:
                try:
                    compile_transform(spec)
                except ValueError as exc:
                    raise ValueError(f"fields.{name}: {exc}") from None
        return self


class MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entities: dict[str, EntityMapping]


def load_mapping(path: Path) -> MappingFile:
    """Read and validate a mapping file; errors name the file, the YAML path and line."""
    return load_yaml_model(path, MappingFile)


# --- applying a mapping to records -----------------------------------------------------------


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.items``); None when any step is missing."""
    if not path:
        return document
    for step in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(step)
    return document


@dataclass(frozen=True, slots=True)
class _CompiledField:
    name: str
    sources: tuple[str, ...]
    join: str
    transforms: tuple[Transform, ...]
    default: Any
    required: bool
    personal: bool

    def raw(self, record: dict[str, Any]) -> Any:
        if len(self.sources) == 1:
            return record.get(self.sources[0])
        parts = [_text(record.get(s) or "").strip() for s in self.sources]
        return self.join.join(p for p in parts if p)

    def value(self, record: dict[str, Any]) -> Any:
        sources = self.sources
        if len(sources) == 1:  # inlined raw(): this runs for every field of every record
            raw = value = record.get(sources[0])
        else:
            raw = value = self.raw(record) if sources else None
        if value.__class__ is str and not value.strip():
            value = None
        if value is not None:
            for transform in self.transforms:
                try:
                    value = transform(value)
                except ValueError as exc:
                    rule, _, message = str(exc).partition("|")
                    if not message:
                        rule, message = "invalid", str(exc)
                    shown = mask(_text(raw)) if self.personal else raw
                    raise RecordRejected(self.name, rule, shown, message) from None
                if value == "":
                    value = None
                    break
        if value is None:
            value = self.default
        if value is None and self.required:
            raise RecordRejected(self.name, "required", None, f"{self.name} is required")
        return value


class Mapper:
    """A compiled entity mapping: ERP record -> canonical dict, or a :class:`Reject`."""

    def __init__(self, name: str, spec: EntityMapping) -> None:
        self.name, self.spec = name, spec
        self.fields = [
            _CompiledField(
                name=field_name,
                sources=(rule.source,)
                if isinstance(rule.source, str)
                else tuple(rule.source or ()),
                join=rule.join,
                transforms=tuple(compile_transform(t) for t in rule.transforms),
                default=rule.default,
                required=rule.required or field_name in CANONICAL_FIELDS[spec.canonical][0],
                personal=rule.personal,
            )
            for field_name, rule in spec.fields.items()
        ]

    def key_of(self, record: dict[str, Any]) -> str:
        return "|".join(_text(record.get(k, "")).strip() for k in self.spec.key)

    def map(self, record: Any) -> dict[str, Any] | Reject:
        if not isinstance(record, dict):
            return Reject("?", None, "not_an_object", None, "record is not a JSON object")
        try:
            out = {f.name: f.value(record) for f in self.fields}
        except RecordRejected as exc:
            value = None if exc.value is None else _text(exc.value)[:200]
            return Reject(self.key_of(record)[:120], exc.field, exc.rule, value, exc.message)
        if out.get("document"):
            out["document_kind"] = document_kind(out["document"])
        return out

    def map_page(
        self, records: Iterable[Any]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[Reject]]:
        """Canonical records of a page, deduplicated by key (the last one wins), and rejects."""
        good: dict[str, dict[str, Any]] = {}
        rejects: list[Reject] = []
        for record in records:
            result = self.map(record)
            if isinstance(result, Reject):
                rejects.append(result)
            else:
                good[self.key_of(record)] = result
        return list(good.items()), rejects
