"""Message templates: Jinja2 in an immutable sandbox, pt-BR filters, validation on save.

Three parts are rendered: the subject and the text body without escaping, the HTML body with
autoescape. The sandbox (:class:`ImmutableSandboxedEnvironment`) refuses Python internals
(``{{ ''.__class__ }}``, ``__globals__``…) and methods that change data; undefined names and
attributes raise (``StrictUndefined``), so a typo is an error on save, not a blank in 200,000
messages.

Variables every template may use: ``customer`` (``name``, ``first_name``, ``city``, ``state``,
``plan``), ``today`` (the recipient's local date), ``campaign`` (``name``) and
``unsubscribe_url``; a template declares more in ``variables`` (the transactional kinds:
``invoice``, ``boleto``…), given by whoever sends it.

Filters: ``money`` (``R$ 1.234,56``), ``number`` (``1.234``), ``decimal`` (``1.234,50``),
``date`` (``dd/mm/aaaa``) and ``datetime`` (``dd/mm/aaaa HH:MM``), both in the recipient's
time zone; dates may be given as ``date``/``datetime`` or ISO text (what JSON keeps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
    pass_context,
)
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sincro import text_pt

BASE_VARIABLES = frozenset({"customer", "today", "campaign", "unsubscribe_url"})
PARTS = ("subject", "html", "text")
MAX_PART_CHARS = 200_000


class TemplateProblem(ValueError):
    """A template part that cannot be used: which part, which line, why (pt-BR for people)."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        where = f"{part}" + (f", linha {line}" if line else "")
        super().__init__(f"{where}: {message}")
        self.part, self.line, self.reason = part, line, message


def _zone_of(context: Context) -> str:
    zone = context.get("time_zone")
    return zone if isinstance(zone, str) and text_pt.is_zone(zone) else "America/Sao_Paulo"


def _as_moment(value: Any) -> dt.date | dt.datetime:
    if isinstance(value, _Sample):
        return dt.date.today()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        if "T" in text or " " in text:
            return dt.datetime.fromisoformat(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        return text_pt.parse_date_br(text)


@pass_context
def _date(context: Context, value: Any) -> str:
    if value is None or value == "":
        return ""
    return text_pt.date_br(_as_moment(value), _zone_of(context))


@pass_context
def _datetime(context: Context, value: Any) -> str:
    if value is None or value == "":
        return ""
    moment = _as_moment(value)
    if not isinstance(moment, dt.datetime):
        return text_pt.date_br(moment)
    return text_pt.datetime_br(moment, _zone_of(context))


def _numeric(value: Any) -> Any:
    return float(value) if isinstance(value, _Sample) else value


def _money(value: Any) -> str:
    value = _numeric(value)
    return "" if value is None or value == "" else text_pt.money_br(value)


def _number(value: Any) -> str:
    value = _numeric(value)
    return "" if value is None or value == "" else text_pt.integer_br(round(float(value)))


def _decimal(value: Any, places: int = 2) -> str:
    value = _numeric(value)
    return "" if value is None or value == "" else text_pt.decimal_br(float(value), places)


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True
    )
    env.filters.update(
        money=_money, number=_number, decimal=_decimal, date=_date, datetime=_datetime
    )
    return env


@cache
def environment(part: str) -> ImmutableSandboxedEnvironment:
    """The sandbox for ``part``: HTML autoescapes, subject and text do not."""
    return _environment(autoescape=part == "html")


def _first_line(tree: nodes.Template, name: str) -> int | None:
    for node in tree.find_all(nodes.Name):
        if node.name == name and node.ctx == "load":
            return int(node.lineno)
    return None


def check(parts: Mapping[str, str], allowed: frozenset[str], sample: Mapping[str, Any]) -> None:
    """Parse each part, refuse names outside ``allowed`` and render it once with ``sample``
    (catches unknown attributes, sandbox refusals and filter misuse): raises
    :class:`TemplateProblem` naming the part and line."""
    for part in PARTS:
        source = parts[part]
        if len(source) > MAX_PART_CHARS:
            raise TemplateProblem(part, f"mais de {MAX_PART_CHARS} caracteres")
        env = environment(part)
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(part, f"sintaxe inválida: {exc.message}", exc.lineno) from None
        unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
        if unknown:
            name = unknown[0]
            known = ", ".join(sorted(allowed))
            raise TemplateProblem(
                part,
                f"variável desconhecida {name!r} (disponíveis: {known})",
                _first_line(tree, name),
            )
        try:
            env.from_string(source).render(dict(sample))
        except SecurityError as exc:
            raise TemplateProblem(part, f"acesso não permitido: {exc}") from None
        except UndefinedError as exc:
            raise TemplateProblem(part, f"valor indefinido: {exc.message}") from None
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateProblem(part, f"erro ao montar: {exc}") from None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    html: str
    text: str


@cache
def _compiled(part: str, source: str) -> Any:
    return environment(part).from_string(source)


def render(parts: Mapping[str, str], context: Mapping[str, Any]) -> Rendered:
    """Render the three parts (compiled templates are cached by source). The subject is one
    line. Raises :class:`TemplateProblem` when the content cannot be rendered."""
    out: dict[str, str] = {}
    for part in PARTS:
        try:
            out[part] = _compiled(part, parts[part]).render(dict(context))
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateProblem(part, str(exc)) from None
    subject = " ".join(out["subject"].split())
    return Rendered(subject=subject, html=out["html"], text=out["text"])


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


def customer_context(
    *, name: str, city: str | None, state: str | None, plan: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "first_name": first_name(name),
        "city": city or "",
        "state": state or "",
        "plan": plan or "",
    }


SAMPLE_CUSTOMER = customer_context(
    name="Maria da Silva Souza", city="Belo Horizonte", state="MG", plan="Controle 20 GB"
)


def sample_value(name: str) -> Any:
    """A stand-in for a declared variable in validation and preview: it answers every
    attribute and filter with something printable."""
    return _Sample(name)


class _Sample(dict[str, Any]):
    """A permissive stand-in: any key or attribute is another sample; prints its name;
    filters read it as the number 1234.56 or today's date."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        return _Sample(f"{self.name}.{item}")

    def __getitem__(self, item: Any) -> Any:
        return _Sample(f"{self.name}.{item}")

    def __str__(self) -> str:
        return f"[{self.name}]"

    def __float__(self) -> float:
        return 1234.56

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True
