"""Reading a person's sign-up details out of the text of an e-mail, in pt-BR.

Two shapes are read: the invitation's form lines ("Nome: …", "CPF: …", "Cidade: Campinas/SP",
"Plano: …"), filled in the reply or in the quoted invitation, and free text ("meu nome é …,
CPF …, moro em Campinas - SP, quero o plano …"). Labels and phrases are matched folded
(without accents, any case) and with the usual abbreviations ("tel", "cel", "cid", "nasc").
Only the new part of a reply is read as free text; from the quoted part only form lines with
a real value count (the invitation's blank lines and placeholders do not). Values written in
the new part win over quoted ones, form lines over free text.

Nothing here touches the database: :func:`parse` gives a :class:`SignupForm`, and
:func:`problems` names what is missing or wrong, field by field, for the reply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sincro.text_pt import (
    STATE_NAMES,
    fold,
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_email,
    only_digits,
    uf_of,
)

MAX_TEXT_CHARS = 20_000  # what is read of a message's text: a sign-up fits in far less
MAX_VALUE_CHARS = 120

#: pt-BR names of the fields, as the replies name them.
FIELD_LABELS = {
    "name": "nome completo",
    "document": "CPF",
    "email": "e-mail",
    "city": "cidade",
    "state": "UF",
    "plan": "plano de interesse",
    "phone": "telefone",
    "birth_date": "data de nascimento",
}
REQUIRED = ("name", "document", "email", "city", "state")

# folded label (":" or "-" after it) -> field
_LABELS = {
    "nome": "name",
    "nome completo": "name",
    "seu nome": "name",
    "cpf": "document",
    "cpf/cnpj": "document",
    "documento": "document",
    "doc": "document",
    "e-mail": "email",
    "email": "email",
    "e mail": "email",
    "seu e-mail": "email",
    "cidade": "city",
    "cid": "city",
    "cidade/uf": "city",
    "cidade - uf": "city",
    "municipio": "city",
    "uf": "state",
    "estado": "state",
    "plano": "plan",
    "plano de interesse": "plan",
    "plano desejado": "plan",
    "interesse": "plan",
    "telefone": "phone",
    "tel": "phone",
    "fone": "phone",
    "celular": "phone",
    "cel": "phone",
    "whatsapp": "phone",
    "data de nascimento": "birth_date",
    "nascimento": "birth_date",
    "nasc": "birth_date",
    "dt nasc": "birth_date",
    "ofertas": "marketing",
    "receber ofertas": "marketing",
    "aceito receber ofertas": "marketing",
    "receber ofertas por e-mail": "marketing",
    "receber ofertas por email": "marketing",
    "nome compl": "name",
    "quer receber ofertas": "marketing",
}
_FORM_LINE = re.compile(r"^\s*[*\-•]?\s*([A-Za-zÀ-ÿ][A-Za-zÀ-ÿ /.()-]{1,50}?)\s*[:=]\s*(.*)$")
_PARENTHESES = re.compile(r"\([^)]*\)")
_PLACEHOLDER = re.compile(r"^[\s_.…\-\[\]()<>*]*$|^[\[(<].*[\])>]$|^(seu|sua) ", re.IGNORECASE)
_QUOTE_CUT = (
    re.compile(r"^\s*(em|on)\b.{0,200}\b(escreveu|wrote)\s*:?\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(mensagem original|original message|forwarded message)", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
)
_HEADER_BLOCK = re.compile(r"^\s*(de|from)\s*:\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(enviad[oa]|sent|data|date|para|to|assunto|subject)\s*:", re.I)

_CPF = re.compile(r"(?<![\d.])(\d{3}[.\s]?\d{3}[.\s]?\d{3}\s?[-.\s]?\s?\d{2})(?![\d])")
_CNPJ = re.compile(r"(?<![\d.])(\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_NAME_WORDS = r"[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ'.-]*(?:\s+[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ'.-]*){0,8}"
_FREE_NAME = re.compile(
    r"\b(?:meu nome (?:completo )?(?:é|e|eh|:)|me chamo|chamo-me|eu sou (?:o|a)|sou (?:o|a))\s+("
    + _NAME_WORDS
    + ")",
    re.IGNORECASE,
)
_NAME_STOP = re.compile(
    r"\s+(?:e|meu|minha|cpf|moro|resido|sou|tenho|quero|gostaria|nasci|telefone|cel|email|"
    r"e-mail|de|da|do|em)\s*$",
    re.IGNORECASE,
)
_NAME_TAIL = re.compile(
    r"\s+(?:e\s+(?:meu|minha|o|a)|meu|minha|cpf|moro|resido|tenho|quero|gostaria|nasci|"
    r"telefone|celular|cel|email|e-mail)\b.*$",
    re.IGNORECASE,
)
_CITY_WORDS = r"[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ' .-]{1,50}?"
_CITY_UF = re.compile(
    r"^\s*(" + _CITY_WORDS + r")\s*(?:/|\s-\s|-|,|\(|\s)\s*([A-Za-z]{2})\s*\)?\s*[.;]?\s*$"
)
_FREE_CITY = re.compile(
    r"\b(?:moro em|moro no|moro na|resido em|sou de|sou da cidade de|cidade de|na cidade de)\s+("
    + _CITY_WORDS
    + r")\s*(?:/|\s-\s|-|,|\()\s*([A-Za-z]{2}|"
    + "|".join(sorted((re.escape(n) for n in STATE_NAMES.values()), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_FREE_CITY_ONLY = re.compile(
    r"\b(?:(?i:moro em|moro no|moro na|resido em|na cidade de)\s+([A-Za-zÀ-ÿ][A-Za-zÀ-ÿ' -]{1,50}?)"
    r"|(?i:sou de|sou da cidade de)\s+([A-ZÀ-Ý][A-Za-zÀ-ÿ' -]{1,50}?))"
    r"\s*(?:[.,;!\n]|$|\s+(?i:e|com|quero|meu|minha)\s)"
)
_FREE_PLAN = re.compile(
    r"\b(?:o plano|no plano|plano de interesse|plano)\s*(?:[:\-]\s*)?"
    r"([A-Za-zÀ-ÿ0-9][\wÀ-ÿ +./-]{1,60})",
    re.IGNORECASE,
)
_PLAN_STOP = re.compile(r"(?:[,;.!?\n]|\s+e\s+|\s+por favor|\s+obrigad).*$", re.IGNORECASE)
_FREE_PHONE = re.compile(
    r"\b(?:telefone|tel|fone|celular|cel|whats(?:app|zap)?|zap)\b\W{0,4}(\+?[\d ()-]{8,22}\d)",
    re.IGNORECASE,
)
_FREE_BIRTH = re.compile(
    r"\b(?:nasci(?:da|do)? (?:em|no dia)|nascimento)\W{0,3}(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})",
    re.IGNORECASE,
)
_FREE_EMAIL = re.compile(r"\be-?mail\b[^@\n]{0,20}?(" + _EMAIL.pattern + ")", re.IGNORECASE)
_MARKETING_NO = re.compile(r"\bn[aã]o (?:quero|desejo|aceito) receber (?:ofertas|promo)", re.I)
_MARKETING_YES = re.compile(
    r"\b(?:quero|desejo|aceito|pode(?:m)? enviar) (?:receber )?(?:ofertas|promo)", re.I
)
_YES = {"sim", "s", "yes", "quero", "aceito", "x", "[x]", "ok", "pode"}
_NO = {"nao", "n", "no", "nao quero", "nao aceito", "[ ]"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class SignupForm:
    """What a message says about the person (raw values as written, cleaned)."""

    name: str | None = None
    document: str | None = None  # as written
    email: str | None = None
    phone: str | None = None
    city: str | None = None
    state: str | None = None  # as written (a UF or a state's name)
    plan: str | None = None
    birth_date: str | None = None  # as written
    marketing: bool | None = None  # said yes or no to offers


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str  # pt-BR, for the reply


@dataclass(frozen=True, slots=True)
class Valid:
    """A complete, checked sign-up."""

    name: str
    document: str  # digits
    email: str
    city: str
    state: str  # UF
    plan: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    marketing: bool | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    valid: Valid | None
    problems: list[Problem] = field(default_factory=list)


def clean_text(text: str) -> str:
    """``text`` without NULs, other control characters and bidi tricks; CRLF as LF; capped."""
    return _CONTROL.sub("", text[: MAX_TEXT_CHARS * 2].replace("\r\n", "\n").replace("\r", "\n"))[
        :MAX_TEXT_CHARS
    ]


def split_reply(text: str) -> tuple[str, str]:
    """``(new part, quoted part)`` of a reply: the quoted part starts at "Em … escreveu:",
    "On … wrote:", an "-----Mensagem original-----" line or a forwarded header block, and every
    line starting with ">" belongs to it."""
    lines = text.split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        if any(p.match(line) for p in _QUOTE_CUT):
            cut = index
            break
        if _HEADER_BLOCK.match(line) and any(
            _HEADER_NEXT.match(following) for following in lines[index + 1 : index + 4]
        ):
            cut = index
            break
    new = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    quoted = [line for line in lines[:cut] if line.lstrip().startswith(">")] + lines[cut:]
    return "\n".join(new), "\n".join(line.lstrip().lstrip(">").lstrip() for line in quoted)


def _value(raw: str) -> str | None:
    value = " ".join(raw.strip().strip("*_").split())[:MAX_VALUE_CHARS].strip()
    if not value or _PLACEHOLDER.match(value):
        return None
    return value


def form_lines(text: str) -> dict[str, str]:
    """The form lines of ``text`` with a real value, by field (the first of each wins)."""
    found: dict[str, str] = {}
    for line in text.split("\n"):
        match = _FORM_LINE.match(line)
        if not match:
            continue
        label = _PARENTHESES.sub(" ", fold(match.group(1)))
        label = " ".join(label.replace(".", " ").split())
        key = _LABELS.get(label)
        value = _value(match.group(2))
        if key is None or value is None or key in found:
            continue
        found[key] = value
    return found


def _marketing(value: str) -> bool | None:
    folded = " ".join(fold(value).replace("ã", "a").split())
    if folded in _YES or folded.startswith("sim"):
        return True
    if folded in _NO or folded.startswith("nao"):
        return False
    return None


def _free_name(text: str) -> str | None:
    match = _FREE_NAME.search(text)
    if not match:
        return None
    name = _NAME_TAIL.sub("", match.group(1))
    previous = None
    while previous != name:
        previous, name = name, _NAME_STOP.sub("", name)
    return _value(name)


def free_text(text: str) -> dict[str, str]:
    """What free pt-BR text says, by field."""
    found: dict[str, str] = {}
    name = _free_name(text)
    if name:
        found["name"] = name
    cpf_label = re.search(r"\bcpf\b\D{0,15}(\d[\d.\s-]{9,16}\d)", text, re.IGNORECASE)
    if cpf_label:
        found["document"] = cpf_label.group(1)
    elif cnpj := _CNPJ.search(text):
        found["document"] = cnpj.group(1)
    elif cpf := _CPF.search(text):
        found["document"] = cpf.group(1)
    if email := _FREE_EMAIL.search(text):
        found["email"] = email.group(1)
    if city := _FREE_CITY.search(text):
        found["city"], found["state"] = city.group(1).strip(), city.group(2)
    elif city_only := _FREE_CITY_ONLY.search(text):
        found["city"] = (city_only.group(1) or city_only.group(2)).strip()
    if plan := _FREE_PLAN.search(text):
        value = _value(_PLAN_STOP.sub("", plan.group(1)))
        if value and fold(value) not in ("de", "do", "da", "que", "o", "a"):
            found["plan"] = value
    if phone := _FREE_PHONE.search(text):
        found["phone"] = phone.group(1).strip()
    if birth := _FREE_BIRTH.search(text):
        found["birth_date"] = birth.group(1)
    if _MARKETING_NO.search(text):
        found["marketing"] = "nao"
    elif _MARKETING_YES.search(text):
        found["marketing"] = "sim"
    return found


def _split_city(values: dict[str, str]) -> None:
    """ "Campinas/SP", "Campinas - SP", "Campinas (SP)" in the city line: the UF goes apart."""
    city = values.get("city")
    if not city:
        return
    match = _CITY_UF.match(city)
    if match and uf_of(match.group(2)) is not None:
        values["city"] = match.group(1).strip()
        values.setdefault("state", match.group(2))
        return
    for separator in ("/", " - ", ","):
        head, found, tail = city.rpartition(separator)
        if found and head.strip() and uf_of(tail) is not None:
            values["city"] = head.strip()
            values.setdefault("state", tail.strip())
            return


def parse(text: str, sender: str | None = None) -> SignupForm:
    """The sign-up details in a message's text (``sender``: the From address, the e-mail when
    the text gives none)."""
    new, quoted = split_reply(clean_text(text))
    merged: dict[str, str] = {}
    for source in (form_lines(new), free_text(new), form_lines(quoted)):
        for key, value in source.items():
            merged.setdefault(key, value)
    _split_city(merged)
    if "email" not in merged and sender:
        merged["email"] = sender
    marketing = _marketing(merged["marketing"]) if "marketing" in merged else None
    fields: dict[str, Any] = {k: v for k, v in merged.items() if k != "marketing"}
    return SignupForm(**fields, marketing=marketing)


def _tidy_name(name: str) -> str:
    words = name.split()
    if name.isupper() or name.islower():
        small = {"da", "de", "do", "das", "dos", "e"}
        words = [
            w.lower() if w.lower() in small and i else w.capitalize() for i, w in enumerate(words)
        ]
    return " ".join(words)


def _parse_birth(text: str) -> dt.date | None:
    parts = re.split(r"[/.-]", text.strip())
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    day, month, year = (int(p) for p in parts)
    if year < 100:
        year += 1900 if year > dt.date.today().year % 100 else 2000
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= dt.date.today() else None


def check(form: SignupForm, known_cities: Iterable[tuple[str, str]] = ()) -> Checked:
    """Validate a form: the missing required fields and every wrong value, each named.
    ``known_cities``: (city, UF) pairs of the location directory; a city found there takes
    its spelling."""
    problems: list[Problem] = []
    for key in REQUIRED:
        if not getattr(form, key):
            problems.append(Problem(key, f"Faltou informar {_article(key)}."))
    name = _tidy_name(form.name) if form.name else None
    if name and (len(name.split()) < 2 or not re.search(r"[A-Za-zÀ-ÿ]{2}", name)):
        problems.append(Problem("name", "Informe o nome completo (nome e sobrenome)."))
    document = only_digits(form.document or "")
    if form.document:
        if len(document) == 14 and is_valid_cnpj(document):
            pass
        elif len(document) != 11:
            problems.append(
                Problem("document", f"O CPF tem 11 dígitos; recebemos {len(document)}.")
            )
        elif not is_valid_cpf(document):
            problems.append(
                Problem(
                    "document",
                    "O CPF informado não é válido (os dígitos verificadores não conferem).",
                )
            )
    email = (form.email or "").strip().strip("<>").lower()
    if form.email and not is_valid_email(email):
        problems.append(Problem("email", "O e-mail informado não parece válido."))
    state = uf_of(form.state) if form.state else None
    known = list(known_cities)
    if form.city and not form.state:
        ufs = {uf for name, uf in known if fold(name) == fold(form.city.strip())}
        if len(ufs) == 1:  # a city the directory has in one UF only: that UF
            state = ufs.pop()
            problems = [p for p in problems if p.field != "state"]
    if form.state and state is None:
        problems.append(
            Problem("state", f"Não reconhecemos a UF “{form.state[:30]}”; use a sigla, como SP.")
        )
    city = " ".join((form.city or "").split())
    if city:
        for known_name, known_uf in known:
            if fold(known_name) == fold(city) and (state is None or state == known_uf):
                city = known_name
                break
        if not re.search(r"[A-Za-zÀ-ÿ]{2}", city):
            problems.append(Problem("city", "Informe o nome da cidade."))
    birth = None
    if form.birth_date:
        birth = _parse_birth(form.birth_date)
        if birth is None:
            problems.append(Problem("birth_date", "A data de nascimento deve ser dd/mm/aaaa."))
    if problems or not (name and email and city and state):
        return Checked(None, problems)
    valid = Valid(
        name=name[:200],
        document=document,
        email=email,
        city=city[:120],
        state=state,
        plan=form.plan,
        phone=only_digits(form.phone)[:20] or None if form.phone else None,
        birth_date=birth,
        marketing=form.marketing,
    )
    return Checked(valid, [])


def _article(key: str) -> str:
    return {
        "name": "o seu nome completo",
        "document": "o seu CPF",
        "email": "o seu e-mail",
        "city": "a sua cidade",
        "state": "a UF (estado) da sua cidade",
    }.get(key, FIELD_LABELS.get(key, key))
