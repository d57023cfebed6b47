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
    specs: tuple[str | dict[str, Any], ...]  # the transforms as written (to inline the simple)
    default: Any
    required: bool
    personal: bool


def _rejected(field: _CompiledField, exc: ValueError, raw: Any) -> RecordRejected:
    """A transform's ValueError (``"rule|message"``) as the record's reject."""
    rule, _, message = str(exc).partition("|")
    if not message:
        rule, message = "invalid", str(exc)
    shown = mask(_text(raw)) if field.personal else raw
    return RecordRejected(field.name, rule, shown, message)


# Transforms inlined by the compiled mapper: a str method on the value as text (``_text``).
_STR_METHODS = {"strip": "strip", "upper": "upper", "lower": "lower"}


def _compile_record_function(
    fields: list[_CompiledField], key: list[str], document_kind_field: bool
) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]:
    """One Python function for the whole mapping, generated once per entity: ERP record ->
    (key, canonical dict), or :class:`RecordRejected`. It is the rules above written out
    field by field (no loop over fields and transforms, no method call per field; strip,
    upper and lower inlined), because it runs for each of the 1.8 million balances of a full
    sync. The semantics, for each field in order:

    1. the value of the source (several sources: their stripped texts, blanks left out,
       joined by ``join``); a text that is blank counts as missing;
    2. when present, each transform in turn; a ValueError rejects the record (rule and
       message from the error, the value masked if the field is personal); a transform that
       gives ``""`` makes the value missing and ends the chain;
    3. a missing value takes the default; still missing and required rejects the record.
    """
    env = _environment()
    lines = ["def map_record(record):", "    get = record.get"]
    lines += _field_lines(fields, env, "    ")
    items = ", ".join(f"{field.name!r}: f{i}" for i, field in enumerate(fields))
    lines.append(f"    out = {{{items}}}")
    if document_kind_field:
        lines.append("    if out['document']:")
        lines.append("        out['document_kind'] = document_kind(out['document'])")
    lines.append(f"    return {_key_expression(key)}, out")
    function: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]] = _define(
        lines, env, "map_record"
    )
    return function


def _compile_field_rule(field: _CompiledField) -> Callable[[Any], Any]:
    """The rules of one field (the semantics of :func:`_compile_record_function`) as a
    function of its raw value: its source's value, or the tuple of its sources' values when
    it has several. Raises :class:`RecordRejected`."""
    env = _environment()
    lines = ["def rule(value):"]
    lines += _field_lines([field], env, "    ", from_value=True)
    lines.append("    return f0")
    function: Callable[[Any], Any] = _define(lines, env, "rule")
    return function


# Types whose values can be equal across types (1 == 1.0 == True) yet map differently.
_NUMBER_TYPES = frozenset({bool, int, float, Decimal})


def _zeros_alike(rule: Callable[[Any], Any]) -> bool:
    """Whether ``rule`` maps 0.0 and -0.0 (equal, one dictionary key) alike: the same value
    of the same type and text, or the same rejection."""

    def outcome(zero: float) -> tuple[Any, ...]:
        try:
            value = rule(zero)
        except RecordRejected as exc:
            return ("rejected", exc.field, exc.rule, _text(exc.value), exc.message)
        return (type(value), _text(value))

    return outcome(0.0) == outcome(-0.0)


def _key_text(value: Any) -> str:
    """One key field's text, as a record's key joins it (:meth:`Mapper.key_of`)."""
    return (value if value.__class__ is str else _text(value)).strip()


def _mapped_column(
    rule: Callable[[Any], Any], raws: list[Any]
) -> tuple[list[Any], dict[int, RecordRejected]]:
    """``rule`` over a column of raw values: (the values, None where the rule rejected, and
    the rejections by position). Each distinct value is mapped once (a page of balances
    repeats a thousand SKUs, a few branches, one storage and a few stamps) when values equal
    to each other are also mapped alike: nothing unhashable, no two number types (1, 1.0
    and True are equal), no -0.0 beside 0.0; else value by value."""
    try:
        distinct: set[Any] | None = set(raws)
    except TypeError:  # a list or an object where a value should be
        distinct = None
    if distinct is not None:
        kinds = set(map(type, raws))
        if len(kinds & _NUMBER_TYPES) > 1 or (
            float in kinds and 0.0 in distinct and not _zeros_alike(rule)
        ):
            distinct = None
    if distinct is None:
        values: list[Any] = []
        errors: dict[int, RecordRejected] = {}
        for i, raw in enumerate(raws):
            try:
                values.append(rule(raw))
            except RecordRejected as exc:
                values.append(None)
                errors[i] = exc
        return values, errors
    table: dict[Any, Any] = {}
    bad: dict[Any, RecordRejected] = {}
    for raw in distinct:
        try:
            table[raw] = rule(raw)
        except RecordRejected as exc:
            table[raw] = None
            bad[raw] = exc
    values = list(map(table.__getitem__, raws))
    if not bad:
        return values, {}
    return values, {i: bad[raw] for i, raw in enumerate(raws) if raw in bad}


def _environment() -> dict[str, Any]:
    return {
        "_text": _text,
        "RecordRejected": RecordRejected,
        "_rejected": _rejected,
        "document_kind": document_kind,
    }


def _key_expression(key: list[str]) -> str:
    return " + '|' + ".join(
        f"(k if (k := get({k!r}, '')).__class__ is str else _text(k)).strip()" for k in key
    )


def _define(lines: list[str], env: dict[str, Any], name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<sincro mapping>", "exec"), env, namespace)
    return namespace[name]


def _field_lines(
    fields: list[_CompiledField], env: dict[str, Any], indent: str, from_value: bool = False
) -> list[str]:
    """The rules of every field written out at ``indent`` (the semantics are in
    :func:`_compile_record_function`): field ``i``'s value ends in ``f{i}``; a broken rule
    raises :class:`RecordRejected`. The source values come from ``get(name)``, or with
    ``from_value`` from ``value`` (one field: its source's value, or its sources' as a tuple)."""
    lines: list[str] = []
    for i, field in enumerate(fields):
        env[f"F{i}"] = field
        env[f"D{i}"] = field.default
        if len(field.sources) == 1:
            source = "value" if from_value else f"get({field.sources[0]!r})"
            lines.append(f"{indent}raw = v = {source}")
        elif field.sources:
            env[f"S{i}"] = field.sources
            values = "value" if from_value else f"(get(s) for s in S{i})"
            parts = f"_text(x or '').strip() for x in {values}"  # as _CompiledField.raw did
            lines.append(f"{indent}raw = v = {field.join!r}.join(p for p in ({parts}) if p)")
        else:
            lines.append(f"{indent}raw = v = None")
        lines.append(f"{indent}if v.__class__ is str and not v.strip():")
        lines.append(f"{indent}    v = None")
        if field.transforms:
            lines.append(f"{indent}if v is not None:")
            lines.append(f"{indent}    try:")
            depth = indent + "        "
            for j, (spec, transform) in enumerate(zip(field.specs, field.transforms, strict=True)):
                if isinstance(spec, str) and spec in _STR_METHODS:
                    method = _STR_METHODS[spec]
                    lines.append(f"{depth}v = (v if v.__class__ is str else _text(v)).{method}()")
                else:
                    env[f"T{i}_{j}"] = transform
                    lines.append(f"{depth}v = T{i}_{j}(v)")
                lines.append(f"{depth}if v == '':")
                lines.append(f"{depth}    v = None")
                if j < len(field.transforms) - 1:
                    lines.append(f"{depth}else:")
                    depth += "    "
            lines.append(f"{indent}    except ValueError as exc:")
            lines.append(f"{indent}        raise _rejected(F{i}, exc, raw) from None")
        lines.append(f"{indent}if v is None:")
        lines.append(f"{indent}    v = D{i}")
        if field.required:
            message = f"{field.name} is required"
            lines.append(f"{indent}    if v is None:")
            lines.append(
                f"{indent}        raise RecordRejected({field.name!r}, 'required', None, "
                f"{message!r})"
            )
        lines.append(f"{indent}f{i} = v")
    return lines


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
                specs=tuple(rule.transforms),
                default=rule.default,
                required=rule.required or field_name in CANONICAL_FIELDS[spec.canonical][0],
                personal=rule.personal,
            )
            for field_name, rule in spec.fields.items()
        ]
        self._map_record = _compile_record_function(
            self.fields, spec.key, any(f.name == "document" for f in self.fields)
        )
        self._rules: list[Callable[[Any], Any]] | None = None  # compiled when first asked for

    def key_of(self, record: dict[str, Any]) -> str:
        return "|".join(_key_text(record.get(k, "")) for k in self.spec.key)

    def map(self, record: Any) -> dict[str, Any] | Reject:
        if not isinstance(record, dict):
            return Reject("?", None, "not_an_object", None, "record is not a JSON object")
        try:
            return self._map_record(record)[1]
        except RecordRejected as exc:
            return self._reject(record, exc)

    def _reject(self, record: dict[str, Any], exc: RecordRejected) -> Reject:
        value = None if exc.value is None else _text(exc.value)[:200]
        return Reject(self.key_of(record)[:120], exc.field, exc.rule, value, exc.message)

    def map_page(
        self, records: Iterable[Any]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[Reject]]:
        """Canonical records of a page, deduplicated by key (the last one wins), and rejects."""
        good: dict[str, dict[str, Any]] = {}
        rejects: list[Reject] = []
        map_record = self._map_record
        for record in records:
            if record.__class__ is not dict and not isinstance(record, dict):
                rejects.append(
                    Reject("?", None, "not_an_object", None, "record is not a JSON object")
                )
                continue
            try:
                key, out = map_record(record)
            except RecordRejected as exc:
                rejects.append(self._reject(record, exc))
                continue
            good[key] = out
        return list(good.items()), rejects

    def map_columns(self, records: Iterable[Any]) -> tuple[Columns, list[Reject]]:
        """:meth:`map_page` into columns: the keys and one list per canonical field, in the
        same order and deduplicated the same way (the last record of a key wins, in the place
        of its first), with the same rejects. Column by column rather than record by record,
        each distinct value of a column through its field's rules once
        (:func:`_mapped_column`), no dict per record: the 1.8 million balances of a full
        sync."""
        if self._rules is None:
            self._rules = [_compile_field_rule(field) for field in self.fields]
        page = records if isinstance(records, list) else list(records)
        kept = [r for r in page if r.__class__ is dict or isinstance(r, dict)]
        failed: dict[int, RecordRejected] = {}  # by position in ``kept``: the first field's
        columns = []
        for field, rule in zip(self.fields, self._rules, strict=True):
            if len(field.sources) == 1:
                name = field.sources[0]
                raws: list[Any] = [r.get(name) for r in kept]
            elif field.sources:
                raws = list(zip(*[[r.get(s) for r in kept] for s in field.sources], strict=True))
            else:
                raws = [None] * len(kept)
            values, errors = _mapped_column(rule, raws)
            for position, exc in errors.items():
                failed.setdefault(position, exc)
            columns.append(values)
        parts = [_mapped_column(_key_text, [r.get(k, "") for r in kept])[0] for k in self.spec.key]
        keys = parts[0] if len(parts) == 1 else list(map("|".join, zip(*parts, strict=True)))
        rejects = self._column_rejects(page, kept, failed)
        if failed:
            good = [i for i in range(len(kept)) if i not in failed]
            keys = [keys[i] for i in good]
            columns = [[column[i] for i in good] for column in columns]
        last = dict(zip(keys, range(len(keys)), strict=True))
        if len(last) < len(keys):  # duplicates: each key once, where it first came
            order = [last[key] for key in dict.fromkeys(keys)]
            keys = [keys[i] for i in order]
            columns = [[column[i] for i in order] for column in columns]
        names = [f.name for f in self.fields]
        return Columns(keys, dict(zip(names, columns, strict=True))), rejects

    def _column_rejects(
        self, page: list[Any], kept: list[Any], failed: dict[int, RecordRejected]
    ) -> list[Reject]:
        """The rejects of a page mapped by columns, in the page's order: records that are not
        objects, and the others' first broken rule."""
        if len(kept) == len(page):
            return [self._reject(kept[i], failed[i]) for i in sorted(failed)]
        rejects: list[Reject] = []
        position = 0
        for record in page:
            if record.__class__ is not dict and not isinstance(record, dict):
                rejects.append(
                    Reject("?", None, "not_an_object", None, "record is not a JSON object")
                )
                continue
            if position in failed:
                rejects.append(self._reject(record, failed[position]))
            position += 1
        return rejects


@dataclass(frozen=True, slots=True)
class Columns:
    """A mapped page as columns: ``keys[i]`` and ``values[field][i]`` describe record i."""

    keys: list[str]
    values: dict[str, list[Any]]

    def rows(self) -> list[tuple[str, dict[str, Any]]]:
        """The page as :meth:`Mapper.map_page` gives it."""
        names = list(self.values)
        return (
            [
                (key, dict(zip(names, row, strict=True)))
                for key, row in zip(self.keys, zip(*self.values.values(), strict=True), strict=True)
            ]
            if names
            else [(key, {}) for key in self.keys]
        )
