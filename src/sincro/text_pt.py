"""Brazilian Portuguese text, written once for every domain.

- **Words**: accent and case folding (``fold``), tokenising into folded ASCII words
  (``words``, ``folded_parts``), Portuguese stop words and Snowball stemming (``stem``).
  Search indexes with these; the coming assistant will parse messages with them.
- **Dates**: ``dd/mm/aaaa`` and ``dd/mm/aaaa HH:MM`` in a given IANA zone (São Paulo by
  default). Sincro stores UTC; a naive datetime is taken as UTC.
- **Numbers and money**: ``1.234`` for thousands, ``1.234,5`` for decimals,
  ``R$ 1.234,56`` for money, and the parsers that read them back.
- **Documents**: CPF and CNPJ check digits, validation, formatting and masking; e-mail
  address shape.
- **Personal data**: ``scrub`` removes anything shaped like a CPF, CNPJ, e-mail address or
  Brazilian phone number from free text (alerts, logs) — LGPD.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import unicodedata
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import snowballstemmer

SAO_PAULO = ZoneInfo("America/Sao_Paulo")

UFS: tuple[str, ...] = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)  # fmt: skip
"""The 27 federative units (26 states and the Federal District)."""

REGION_OF_UF: dict[str, str] = {
    **dict.fromkeys(("AC", "AP", "AM", "PA", "RO", "RR", "TO"), "Norte"),
    **dict.fromkeys(("AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"), "Nordeste"),
    **dict.fromkeys(("DF", "GO", "MT", "MS"), "Centro-Oeste"),
    **dict.fromkeys(("ES", "MG", "RJ", "SP"), "Sudeste"),
    **dict.fromkeys(("PR", "RS", "SC"), "Sul"),
}
"""IBGE's five macro-regions of each UF."""
CENTS = Decimal("0.01")

# --- words ----------------------------------------------------------------------------------

# Folded: "à" is "a", "é" is "e".
# fmt: off
STOPWORDS = frozenset((
    "a", "o", "e", "as", "os", "ao", "aos", "da", "das", "de", "do", "dos", "em", "na", "nas",
    "no", "nos", "num", "numa", "um", "uma", "uns", "umas", "para", "pra", "por", "pelo", "pela",
    "pelos", "pelas", "com", "sem", "sob", "que", "se", "ou", "ja", "the", "of", "and",
))
# fmt: on
# Folded endings and their usual spelling, longest first.
ACCENTED_ENDINGS = (
    ("aveis", "áveis"),
    ("iveis", "íveis"),
    ("encias", "ências"),
    ("ancias", "âncias"),
    ("encia", "ência"),
    ("ancia", "ância"),
    ("coes", "ções"),
    ("soes", "sões"),
    ("avel", "ável"),
    ("ivel", "ível"),
    ("cao", "ção"),
    ("sao", "são"),
    ("oes", "ões"),
    ("aes", "ães"),
    ("ao", "ão"),
)
WORD_RE = re.compile(r"[^\W_]+")
ASCII_RE = re.compile(r"[a-z0-9]+")
_stemmer = snowballstemmer.stemmer("portuguese")
_stemmer_lock = threading.Lock()


def fold(text: str) -> str:
    """Lower case without accents: "Configuração" -> "configuracao" (NFKD, combining marks
    dropped, case folded)."""
    if text.isascii():  # the same result: ASCII is its own NFKD, without marks, and folds
        return text.lower()  # to lower case (most messages, names and codes are ASCII)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=200_000)
def folded_parts(word: str) -> tuple[str, ...]:
    """The runs of ``[a-z0-9]`` of a folded word ("Wi-Fi" -> ("wi", "fi"), "ø" -> ())."""
    return tuple(ASCII_RE.findall(fold(word)))


def words(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded word) of every word of ``text``; a word split by folding (such as
    "ø") yields several folded words over the same span."""
    for match in WORD_RE.finditer(text):
        for token in folded_parts(match.group()):
            yield match.start(), match.end(), token


def plain(text: str) -> str:
    """Folded ASCII words joined by single spaces: " Material Nº " -> "material n"."""
    return " ".join(token for _, _, token in words(text))


def _accented(word: str) -> str:
    """Put back the accents of common Portuguese endings, which Snowball's rules expect
    ("configuracao" -> "configuração"): typed with or without accents, a word stems the same."""
    for unaccented, accented in ACCENTED_ENDINGS:
        if word.endswith(unaccented) and len(word) > len(unaccented) + 1:
            return word[: -len(unaccented)] + accented
    return word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The stem of a folded word: Snowball Portuguese over the word with its usual accents put
    back, folded again (digits and words under three letters as they are)."""
    if len(word) < 3 or not word.isalpha():
        return word
    with _stemmer_lock:  # the Snowball stemmer object keeps state between calls
        stemmed = fold(_stemmer.stemWord(_accented(word)))
    if stemmed == word and len(word) >= 5 and word.endswith("s") and not word.endswith("ss"):
        stemmed = word[:-1]  # plurals Snowball does not know: chips, modems
    return stemmed


# --- dates ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def is_zone(name: str) -> bool:
    """True for a name the IANA database (``zoneinfo``) knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def local_time(moment: dt.datetime, zone: str | ZoneInfo = SAO_PAULO) -> dt.datetime:
    """``moment`` in the IANA ``zone``; a naive datetime is taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(_zone(zone))


def datetime_br(moment: dt.datetime, zone: str | ZoneInfo = SAO_PAULO) -> str:
    """``dd/mm/aaaa HH:MM`` in ``zone`` (São Paulo unless told)."""
    return local_time(moment, zone).strftime("%d/%m/%Y %H:%M")


def date_br(day: dt.date | dt.datetime, zone: str | ZoneInfo = SAO_PAULO) -> str:
    """``dd/mm/aaaa``; a datetime is first converted to ``zone``."""
    if isinstance(day, dt.datetime):
        day = local_time(day, zone).date()
    return day.strftime("%d/%m/%Y")


def parse_date_br(text: str) -> dt.date:
    """``15/01/2026`` -> ``date(2026, 1, 15)``; ValueError otherwise."""
    return dt.datetime.strptime(text.strip(), "%d/%m/%Y").date()


# --- numbers and money ----------------------------------------------------------------------


def _swap_separators(text: str) -> str:
    """Turn ``1,234.5`` (Python's format) into ``1.234,5``."""
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def integer_br(number: int) -> str:
    """``1234567`` -> ``1.234.567``."""
    return _swap_separators(f"{number:,}")


def decimal_br(number: float | Decimal, places: int = 2) -> str:
    """``1234.5`` -> ``1.234,50`` (with ``places`` decimals)."""
    return _swap_separators(f"{number:,.{places}f}")


def money_br(amount: Decimal | float | int | str) -> str:
    """``1234.56`` -> ``R$ 1.234,56`` (half-up to the cent); negative reads ``-R$ 10,00``.
    Raises ``decimal.InvalidOperation`` or ValueError for something that is not a number."""
    cents = Decimal(str(amount)).quantize(CENTS, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    return f"{sign}R$ {decimal_br(abs(cents))}"


def parse_decimal_br(text: str) -> Decimal:
    """``1.234,56`` or ``1234,56`` -> ``Decimal("1234.56")``: a dot is always a thousands
    separator, a comma the decimal one. ValueError for anything else."""
    cleaned = text.strip().replace(".", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a decimal number: {text!r}")
    return number


def parse_money_br(text: str) -> Decimal:
    """``R$ 1.234,56`` (or ``-R$ 10,00``, ``R$ -10,00``, ``1.234,56``) -> a Decimal."""
    cleaned = text.strip()
    negative = cleaned.startswith("-")
    cleaned = cleaned.removeprefix("-").strip().removeprefix("R$").strip()
    number = parse_decimal_br(cleaned)
    return -number if negative else number


# --- CPF and CNPJ ---------------------------------------------------------------------------

CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_NON_DIGIT = re.compile(r"\D")


def only_digits(text: str) -> str:
    """``529.982.247-25`` -> ``52998224725``."""
    return _NON_DIGIT.sub("", text)


def cpf_check_digits(base: str) -> str:
    """The two check digits of the 9 first digits of a CPF."""
    digits = [int(d) for d in base]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[9]}{digits[10]}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of the 12 first digits of a CNPJ."""
    digits = [int(d) for d in base]
    for size in (12, 13):
        total = sum(d * w for d, w in zip(digits[:size], CNPJ_WEIGHTS[13 - size :], strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return f"{digits[12]}{digits[13]}"


def is_valid_cpf(text: str) -> bool:
    """A CPF (formatted or digits only) whose check digits hold; repeated digits are not."""
    digits = only_digits(text)
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(text: str) -> bool:
    """A CNPJ (formatted or digits only) whose check digits hold; repeated digits are not."""
    digits = only_digits(text)
    if len(digits) != 14 or digits == digits[0] * 14:
        return False
    return cnpj_check_digits(digits[:12]) == digits[12:]


def document_kind(digits: str) -> str:
    """``cpf`` for 11 digits, ``cnpj`` otherwise."""
    return "cpf" if len(digits) == 11 else "cnpj"


def format_cpf(text: str) -> str:
    """``52998224725`` -> ``529.982.247-25``."""
    d = only_digits(text)
    if len(d) != 11:
        raise ValueError(f"a CPF has 11 digits, got {len(d)}")
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def format_cnpj(text: str) -> str:
    """``11222333000181`` -> ``11.222.333/0001-81``."""
    d = only_digits(text)
    if len(d) != 14:
        raise ValueError(f"a CNPJ has 14 digits, got {len(d)}")
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def mask(value: str) -> str:
    """A personal value shown without most of it: the first and last two characters kept
    (``52998224725`` -> ``52*******25``); four characters or fewer fully hidden."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_valid_email(text: str) -> bool:
    """An address of the plain shape ``local@domain.tld`` (ASCII, no quotes or comments)."""
    return _EMAIL_RE.match(text) is not None


# --- personal data in free text ----------------------------------------------------------------

REMOVED = "[dado pessoal removido]"
_PHONE_TAIL = r"9?\d{4}[\s.-]?\d{4}(?!\d)"
# Order matters: e-mail first (its digits must not be half-taken), then the longer numbers.
PERSONAL_PATTERNS = (
    re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+"),  # e-mail
    re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b"),  # CNPJ
    re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"),  # CPF
    # Phones need a shape a business number lacks: +55, an area code in parentheses, or the
    # separators of "11 91234-5678" / "11 912345678" (a bare 10-digit ERP document stays).
    re.compile(
        r"(?:\+55[\s-]?\(?\d{2}\)?[\s-]?"
        + _PHONE_TAIL
        + r"|\(\d{2}\)[\s-]?"
        + _PHONE_TAIL
        + r"|(?<!\d)\d{2}[\s-]9?\d{4}[\s.-]\d{4}(?!\d)|(?<!\d)\d{2}[\s-]9\d{8}(?!\d)"
        + r"|(?<![\d-])9\d{4}-\d{4}(?!\d))"
    ),
)


def scrub(text: str) -> str:
    """``text`` with every CPF, CNPJ, e-mail address and phone number replaced by
    "[dado pessoal removido]" (alerts and logs never carry them)."""
    for pattern in PERSONAL_PATTERNS:
        text = pattern.sub(REMOVED, text)
    return text


# --- federative units -----------------------------------------------------------------------

#: The 27 federative units (26 states and the Federal District) by UF, with their names.
STATE_NAMES: dict[str, str] = {
    "AC": "Acre", "AL": "Alagoas", "AP": "Amapá", "AM": "Amazonas", "BA": "Bahia",
    "CE": "Ceará", "DF": "Distrito Federal", "ES": "Espírito Santo", "GO": "Goiás",
    "MA": "Maranhão", "MT": "Mato Grosso", "MS": "Mato Grosso do Sul", "MG": "Minas Gerais",
    "PA": "Pará", "PB": "Paraíba", "PR": "Paraná", "PE": "Pernambuco", "PI": "Piauí",
    "RJ": "Rio de Janeiro", "RN": "Rio Grande do Norte", "RS": "Rio Grande do Sul",
    "RO": "Rondônia", "RR": "Roraima", "SC": "Santa Catarina", "SP": "São Paulo",
    "SE": "Sergipe", "TO": "Tocantins",
}  # fmt: skip
_UF_BY_FOLDED_NAME = {fold(name): uf for uf, name in STATE_NAMES.items()}


def uf_of(text: str) -> str | None:
    """The UF a person wrote, as a code ("sp", "SP") or a name with or without accents
    ("Sao Paulo", "minas gerais"); None when it is neither."""
    cleaned = " ".join(fold(text).replace(".", " ").split())
    if cleaned.upper() in STATE_NAMES:
        return cleaned.upper()
    return _UF_BY_FOLDED_NAME.get(cleaned)
