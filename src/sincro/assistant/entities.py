"""Entities found by exact rules in customer text: CPF and CNPJ (check digits from
:mod:`sincro.text_pt`), order and invoice numbers, e-mail, phone, CEP, city/UF (from the
catalog's location directory and the federative units) and products (from the catalog,
tolerant to typos).

Every entity carries ``start``/``end``: offsets into the ORIGINAL text (Python string indexes,
so an emoji or an accented letter counts once). Spans never overlap: the rules run in the
order of :func:`find` and a later rule skips what an earlier one took.

A CPF or CNPJ whose check digits fail is still reported (the customer meant one and the bot
should say it looks wrong) with ``valid: false``; a bare run of 11 digits that fails as a CPF
but has the shape of a mobile number is a phone instead."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import OSA

from sincro.text_pt import (
    PERSONAL_PATTERNS,
    STATE_NAMES,
    STOPWORDS,
    UFS,
    fold,
    format_cnpj,
    format_cpf,
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_email,
    only_digits,
    words,
)


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    value: str  # the text as written (text[start:end])
    normalized: str
    start: int
    end: int
    valid: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "value": self.value,
            "normalized": self.normalized,
            "start": self.start,
            "end": self.end,
            "valid": self.valid,
        }


# --- exact patterns ---------------------------------------------------------------------------

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
UUID_RE = re.compile(
    r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
)
#: An order code as the shop prints it: PED-2026-000123 (any case, "-" or none).
ORDER_CODE_RE = re.compile(r"(?<![\w-])PED-?(\d{4})-?(\d{3,8})(?![\w-])", re.IGNORECASE)
CNPJ_RE = re.compile(r"(?<![\d./-])(\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2})(?![\d/-]|\.\d)")
CPF_RE = re.compile(r"(?<![\d./-])(\d{3}\.?\d{3}\.?\d{3}-?\d{2})(?![\d/-]|\.\d)")
CEP_RE = re.compile(r"(?<![\d.-])(\d{5}-\d{3}|\d{2}\.\d{3}-\d{3})(?![\d-])")
CEP_WORD_RE = re.compile(r"\bcep\s*:?\s*(\d{8})(?!\d)", re.IGNORECASE)
PHONE_RE = PERSONAL_PATTERNS[3]
BARE_MOBILE_RE = re.compile(r"(?<![\d.-])\d{11}(?![\d-])")
SKU_RE = re.compile(r"[A-Za-z0-9][\w.-]*[A-Za-z0-9]")
#: "fatura 123456", "boleto nº 884512", "nota fiscal n. 5544"
INVOICE_RE = re.compile(
    r"\b(?:fatura|faturas|boleto|conta|nota\s+fiscal|nf-?e?)\s*(?:n[º°o.]?\s*|numero\s+|num\.?\s*|#\s*|:\s*)?(\d{4,12})(?![\d/.-]*\d)",
    re.IGNORECASE,
)
#: "pedido 45871", "pedido numero 778899", "reserva #1234", "compra n 9988"
ORDER_RE = re.compile(
    r"\b(?:pedido|pedidos|reserva|compra|encomenda)\s*(?:n[º°o.]?\s*|numero\s+|num\.?\s*|#\s*|:\s*|de\s+numero\s+)?(\d{4,12})(?![\d/.-]*\d)",
    re.IGNORECASE,
)


def _phone_normalized(raw: str) -> str | None:
    digits = only_digits(raw)
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    if len(digits) in (10, 11):
        return f"+55{digits}"
    if len(digits) in (8, 9):
        return digits
    return None


def _mobile_shape(digits: str) -> bool:
    return len(digits) == 11 and digits[2] == "9" and digits[0] != "0"


class _Spans:
    """The entities found so far and the spans they hold."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: list[Entity] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= e.start or start >= e.end for e in self.found)

    def add(self, kind: str, start: int, end: int, normalized: str, valid: bool = True) -> bool:
        if start >= end or not self.free(start, end):
            return False
        self.found.append(Entity(kind, self.text[start:end], normalized, start, end, valid))
        return True


def _patterns(spans: _Spans) -> None:
    text = spans.text
    for m in EMAIL_RE.finditer(text):
        if is_valid_email(m.group()):
            spans.add("email", m.start(), m.end(), m.group().lower())
    for m in UUID_RE.finditer(text):
        spans.add("order", m.start(), m.end(), str(uuid.UUID(m.group())))
    for m in ORDER_CODE_RE.finditer(text):
        spans.add("order", m.start(), m.end(), f"PED-{m.group(1)}-{m.group(2)}")
    for m in CNPJ_RE.finditer(text):
        digits = only_digits(m.group(1))
        valid = is_valid_cnpj(digits)
        formatted = not m.group(1).isdigit()
        if valid or formatted:
            spans.add("cnpj", m.start(1), m.end(1), format_cnpj(digits), valid)
    for m in CPF_RE.finditer(text):
        digits = only_digits(m.group(1))
        valid = is_valid_cpf(digits)
        formatted = not m.group(1).isdigit()
        if valid or formatted or not _mobile_shape(digits):
            spans.add("cpf", m.start(1), m.end(1), format_cpf(digits), valid)
    for m in CEP_RE.finditer(text):
        digits = only_digits(m.group(1))
        spans.add("cep", m.start(1), m.end(1), f"{digits[:5]}-{digits[5:]}")
    for m in CEP_WORD_RE.finditer(text):
        digits = m.group(1)
        spans.add("cep", m.start(1), m.end(1), f"{digits[:5]}-{digits[5:]}")
    for m in PHONE_RE.finditer(text):
        normalized = _phone_normalized(m.group())
        if normalized is not None:
            spans.add("phone", m.start(), m.end(), normalized)
    for m in BARE_MOBILE_RE.finditer(text):
        if _mobile_shape(m.group()):
            spans.add("phone", m.start(), m.end(), f"+55{m.group()}")
    for m in INVOICE_RE.finditer(text):
        spans.add("invoice", m.start(1), m.end(1), m.group(1))
    for m in ORDER_RE.finditer(text):
        spans.add("order", m.start(1), m.end(1), m.group(1))


# --- words, places and products ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    folded: str


def _words(text: str) -> list[_Word]:
    return [_Word(start, end, token) for start, end, token in words(text)]


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str


#: Folded state names that are also everyday words: only taken with their accent or capital.
AMBIGUOUS_STATE_NAMES = frozenset({"para"})
#: UF codes that are everyday words in lower case ("to", "pa", "es", …): taken only in capitals.
MAX_PLACE_WORDS = 5


class Places:
    """Cities of the location directory and the federative units, by folded name."""

    def __init__(self, cities: Iterable[tuple[str, str]]) -> None:
        self.cities: dict[tuple[str, ...], City] = {}
        for name, state in cities:
            key = tuple(token for _, _, token in words(name))
            if key and state.upper() in STATE_NAMES:
                self.cities.setdefault(key, City(name, state.upper()))
        self.states = {
            tuple(token for _, _, token in words(name)): uf for uf, name in STATE_NAMES.items()
        }

    def find(self, spans: _Spans, tokens: Sequence[_Word]) -> None:
        text = spans.text
        shouting = sum(c.isupper() for c in text) > 0.6 * max(1, sum(c.isalpha() for c in text))
        i = 0
        while i < len(tokens):
            taken = 0
            for size in range(min(MAX_PLACE_WORDS, len(tokens) - i), 0, -1):
                key = tuple(w.folded for w in tokens[i : i + size])
                start, end = tokens[i].start, tokens[i + size - 1].end
                city = self.cities.get(key)
                if city is not None and spans.add("city", start, end, f"{city.name}/{city.state}"):
                    taken = size
                    break
                uf = self.states.get(key)
                plain_word = key[0] in AMBIGUOUS_STATE_NAMES and text[start:end] == fold(
                    text[start:end]
                )
                if uf is not None and not plain_word and spans.add("uf", start, end, uf):
                    taken = size
                    break
            if not taken:
                word = tokens[i]
                raw = text[word.start : word.end]
                after_city = (
                    bool(spans.found)
                    and spans.found[-1].type == "city"
                    and (0 < word.start - spans.found[-1].end <= 3)
                )
                if (
                    raw.upper() in UFS
                    and len(raw) == 2
                    and ((raw.isupper() and not shouting) or after_city)
                ):
                    spans.add("uf", word.start, word.end, raw.upper())
                taken = 1
            i += taken


#: A run of words names a product only if one of them is distinctive: a model code mixing
#: letters and digits ("a05", "g84") or one of the first words of the product's name (brand or
#: line, typos allowed), so "128 preto" alone names nothing.
LEAD_WORDS = 3
MAX_PRODUCT_WORDS = 10  # the longest run of words read as one product name


def _distinctive(word: str, lead: Sequence[str]) -> bool:
    if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return True
    if not word.isalpha() or len(word) < 3:
        return False
    limit = 0 if len(word) < 4 else 1 if len(word) <= 7 else 2
    return any(OSA.distance(word, token, score_cutoff=limit) <= limit for token in lead)


def _is_number(token: str) -> bool:
    return token.isdigit()


@dataclass(slots=True)
class _Product:
    sku: str
    name: str
    tokens: frozenset[str]
    lead: tuple[str, ...]  # the first words of the name: brand and line ("apple", "iphone")


class Products:
    """The catalog's products by the folded words of their names and SKUs, with the words
    bucketed for fuzzy lookups (catalog search's :class:`Vocabulary`)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        from sincro.catalog.search import Vocabulary

        self.items: list[_Product] = []
        self.by_token: dict[str, set[int]] = {}
        self.by_sku: dict[str, int] = {}
        for sku, name in items:
            ordered = [token for _, _, token in words(name) if token not in STOPWORDS]
            tokens = frozenset(ordered)
            index = len(self.items)
            self.items.append(_Product(sku, name, tokens, tuple(ordered[:LEAD_WORDS])))
            self.by_sku[fold(sku)] = index
            for token in tokens:
                self.by_token.setdefault(token, set()).add(index)
        self.vocabulary = Vocabulary((token, token) for token in self.by_token)
        self.numbered = sorted(t for t in self.by_token if t[:1].isdigit())

    def _matches(self, token: str) -> set[int]:
        """Products having ``token``, a word within typo distance of it, or (for a number such
        as "256") a word it begins ("256gb")."""
        found = set(self.by_token.get(token, ()))
        if token.isalpha() and len(token) >= 4:
            for close in self.vocabulary.close_words(token)[:3]:
                if OSA.distance(token, close) <= (1 if len(token) <= 7 else 2):
                    found |= self.by_token[close]
        elif _is_number(token):
            for word in self.numbered:
                if word.startswith(token) and word[len(token) :].isalpha():
                    found |= self.by_token[word]
        return found

    def find(self, spans: _Spans, tokens: Sequence[_Word]) -> None:
        text = spans.text
        for m in SKU_RE.finditer(text):
            sku = self.by_sku.get(fold(m.group()))
            if sku is not None:
                spans.add("product", m.start(), m.end(), self.items[sku].sku)
        memo: dict[str, set[int]] = {}

        def matches(token: str) -> set[int]:
            found = memo.get(token)
            if found is None:
                found = memo[token] = self._matches(token)
            return found

        i = 0
        while i < len(tokens):
            word = tokens[i]
            if not spans.free(word.start, word.end):
                i += 1
                continue
            best: tuple[int, set[int]] | None = None
            if word.folded not in STOPWORDS:
                candidates = matches(word.folded)
                j = i
                while candidates and j + 1 < min(len(tokens), i + MAX_PRODUCT_WORDS):
                    narrowed = candidates & matches(tokens[j + 1].folded)
                    if not narrowed:
                        break
                    candidates, j = narrowed, j + 1
                if candidates:
                    best = (j, candidates)
            if best is not None:
                j, candidates = best
                size = j - i + 1
                chosen = min(
                    candidates, key=lambda k: (len(self.items[k].tokens), self.items[k].sku)
                )
                lead = self.items[chosen].lead
                distinctive = any(_distinctive(w.folded, lead) for w in tokens[i : j + 1])
                named = distinctive and (size >= 2 or len(candidates) <= 3)
                if named and spans.add(
                    "product", word.start, tokens[j].end, self.items[chosen].sku
                ):
                    i = j + 1
                    continue
            i += 1


# --- the catalog's lists, cached per database ------------------------------------------------

CATALOG_TTL_SECONDS = 60.0


@dataclass(slots=True)
class _Cached:
    places: Places
    products: Products
    loaded_at: float = field(default_factory=time.monotonic)


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def catalog_lists(key: str, load: Callable[[], tuple[Places, Products]]) -> tuple[Places, Products]:
    """The places and products for database ``key``, loaded by ``load`` at most once a
    minute per process."""
    current = _cache.get(key)
    if current is None or time.monotonic() - current.loaded_at > CATALOG_TTL_SECONDS:
        with _cache_lock:
            current = _cache.get(key)
            if current is None or time.monotonic() - current.loaded_at > CATALOG_TTL_SECONDS:
                current = _Cached(*load())
                _cache[key] = current
    return current.places, current.products


def forget_catalog() -> None:
    _cache.clear()


def find(text: str, places: Places | None = None, products: Products | None = None) -> list[Entity]:
    """Every entity in ``text``, in the order they appear."""
    spans = _Spans(text)
    _patterns(spans)
    tokens = _words(text)
    if places is not None:
        places.find(spans, tokens)
    else:
        Places(()).find(spans, tokens)
    if products is not None:
        products.find(spans, tokens)
    return sorted(spans.found, key=lambda e: e.start)
