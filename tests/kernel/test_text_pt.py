"""pt-BR text helpers: examples and properties (pure functions, no database)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from sincro import text_pt as t


def _cpf(base: str) -> str:
    return base + t.cpf_check_digits(base)


def _cnpj(base: str) -> str:
    return base + t.cnpj_check_digits(base)


cpf_bases = st.text(alphabet="0123456789", min_size=9, max_size=9).filter(
    lambda b: _cpf(b) != _cpf(b)[0] * 11
)
cnpj_bases = st.text(alphabet="0123456789", min_size=12, max_size=12).filter(
    lambda b: _cnpj(b) != _cnpj(b)[0] * 14
)


# --- words ----------------------------------------------------------------------------------


def test_fold_and_words() -> None:
    assert t.fold("Configuração ÁGUA Pré-pago") == "configuracao agua pre-pago"
    assert t.plain("  Nº Material; Depósito ") == "no material deposito"
    assert [w for *_, w in t.words("Wi-Fi 6 (CEL-A15)")] == ["wi", "fi", "6", "cel", "a15"]


def _slow_fold(text: str) -> str:
    """``fold`` without its ASCII shortcut."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40) | st.text(max_size=40))
def test_the_ascii_shortcut_of_fold_changes_nothing(text: str) -> None:
    assert t.fold(text) == _slow_fold(text)


def test_fold_of_every_ascii_character() -> None:
    every = "".join(chr(i) for i in range(128))
    assert t.fold(every) == _slow_fold(every)


def test_stem_ignores_accents_and_inflection() -> None:
    assert t.stem("configuracao") == t.stem("configurar") == t.stem("configuracoes")
    assert t.stem("carregadores") == "carreg" and t.stem("chips") == "chip"
    assert t.stem("5g") == "5g" and "de" in t.STOPWORDS


@given(st.text(max_size=40))
def test_folded_text_has_no_combining_marks_and_is_stable(text: str) -> None:
    folded = t.fold(text)
    assert t.fold(folded) == folded
    assert all(re.fullmatch(r"[a-z0-9]+", w) for *_, w in t.words(text))


# --- dates ----------------------------------------------------------------------------------


def test_dates_in_sao_paulo_or_another_zone() -> None:
    moment = dt.datetime(2026, 1, 15, 2, 30, tzinfo=dt.UTC)
    assert t.datetime_br(moment) == "14/01/2026 23:30"
    assert t.datetime_br(moment, "America/Manaus") == "14/01/2026 22:30"
    assert t.datetime_br(moment.replace(tzinfo=None), "UTC") == "15/01/2026 02:30"
    assert t.date_br(moment) == "14/01/2026" and t.date_br(dt.date(2026, 3, 1)) == "01/03/2026"
    assert t.parse_date_br("01/03/2026") == dt.date(2026, 3, 1)


@given(st.dates(min_value=dt.date(1900, 1, 1)))
def test_dates_round_trip(day: dt.date) -> None:
    assert t.parse_date_br(t.date_br(day)) == day


# --- numbers and money ----------------------------------------------------------------------


def test_numbers_and_money() -> None:
    assert t.integer_br(-1234567) == "-1.234.567"
    assert t.decimal_br(1234.5) == "1.234,50" and t.decimal_br(3.456, 1) == "3,5"
    assert t.money_br("1234.56") == "R$ 1.234,56" and t.money_br(-10) == "-R$ 10,00"
    assert t.money_br(Decimal("0.005")) == "R$ 0,01"  # half up, as people round
    assert t.parse_decimal_br("1.234,56") == Decimal("1234.56")
    assert t.parse_money_br("R$ -10,00") == t.parse_money_br("-R$ 10,00") == Decimal("-10.00")
    for bad in ("1,2,3", "abc", "NaN", ""):
        with pytest.raises(ValueError):
            t.parse_decimal_br(bad)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_money_round_trips(amount: Decimal) -> None:
    text = t.money_br(amount)
    assert re.fullmatch(r"-?R\$ \d{1,3}(\.\d{3})*,\d{2}", text)
    assert t.parse_money_br(text) == amount


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_integers_round_trip(number: int) -> None:
    assert t.parse_decimal_br(t.integer_br(number)) == number


# --- CPF and CNPJ ---------------------------------------------------------------------------


def test_known_documents() -> None:
    assert t.is_valid_cpf("529.982.247-25") and not t.is_valid_cpf("529.982.247-24")
    assert not t.is_valid_cpf("111.111.111-11") and not t.is_valid_cpf("123")
    assert t.is_valid_cnpj("11.222.333/0001-81") and not t.is_valid_cnpj("11222333000182")
    assert t.format_cpf("52998224725") == "529.982.247-25"
    assert t.format_cnpj("11222333000181") == "11.222.333/0001-81"
    assert t.mask("52998224725") == "52*******25" and t.mask("abc") == "***"
    assert t.document_kind("52998224725") == "cpf"
    assert t.is_valid_email("maria.silva+loja@exemplo.com.br")
    assert not t.is_valid_email("maria@exemplo") and not t.is_valid_email("a b@x.com")


@given(cpf_bases)
def test_generated_cpf_validates_formatted_or_not(base: str) -> None:
    cpf = _cpf(base)
    assert t.is_valid_cpf(cpf) and t.is_valid_cpf(t.format_cpf(cpf))
    assert t.only_digits(t.format_cpf(cpf)) == cpf


def _textbook_digit(body: list[int], cnpj: bool) -> int:
    """A check digit as the Receita Federal describes it, written apart from text_pt (the
    oracle): weights 2, 3, … from the right (CNPJ: back to 2 after 9); remainder r of the
    weighted sum by 11; the digit is 0 when r < 2, else 11 - r."""
    weights = [2 + (i % 8 if cnpj else i) for i in range(len(body))]
    rest = sum(d * w for d, w in zip(reversed(body), weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def _textbook_valid(number: str) -> bool:
    digits = [int(c) for c in number]
    cnpj = len(digits) == 14
    body = digits[:-2]
    first = _textbook_digit(body, cnpj)
    second = _textbook_digit([*body, first], cnpj)
    return len(set(digits)) > 1 and digits[-2:] == [first, second]


def _one_changed(number: str, position: int, shift: int) -> str:
    position %= len(number)
    return number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]


@given(cpf_bases, st.integers(0, 10), st.integers(1, 9))
def test_cpf_with_one_digit_changed_agrees_with_the_textbook(
    base: str, position: int, shift: int
) -> None:
    assert _textbook_valid(_cpf(base))
    changed = _one_changed(_cpf(base), position, shift)
    assert t.is_valid_cpf(changed) == _textbook_valid(changed)
    if position >= 9:  # a wrong check digit is always caught
        assert not t.is_valid_cpf(changed)


@given(cnpj_bases, st.integers(0, 13), st.integers(1, 9))
def test_cnpj_validates_and_one_digit_changed_agrees_with_the_textbook(
    base: str, position: int, shift: int
) -> None:
    cnpj = _cnpj(base)
    assert t.is_valid_cnpj(cnpj) and t.is_valid_cnpj(t.format_cnpj(cnpj))
    assert _textbook_valid(cnpj)
    changed = _one_changed(cnpj, position, shift)
    assert t.is_valid_cnpj(changed) == _textbook_valid(changed)
    if position >= 12:
        assert not t.is_valid_cnpj(changed)


def test_one_changed_digit_is_caught_almost_always() -> None:
    """Mod 11 folds 10 into 0, so a few one-digit changes keep a CPF valid (for example
    078.561.091-06 and 178.561.091-06); nearly all do not."""
    assert t.is_valid_cpf("07856109106") and t.is_valid_cpf("17856109106")
    base = "529982247"
    changes = [_one_changed(_cpf(base), p, s) for p in range(11) for s in range(1, 10)]
    assert sum(t.is_valid_cpf(c) for c in changes) <= 2


# --- scrubbing ------------------------------------------------------------------------------

emails = st.from_regex(r"[a-z][a-z0-9._+-]{0,10}@[a-z0-9]{1,8}(\.[a-z]{2,3}){1,2}", fullmatch=True)
phones = st.tuples(st.integers(11, 99), st.integers(10**7, 10**8 - 1)).flatmap(
    lambda p: st.sampled_from(
        [
            f"({p[0]}) 9{p[1] // 10**4}-{p[1] % 10**4:04d}",
            f"+55 {p[0]} 9{p[1] // 10**4}-{p[1] % 10**4:04d}",
            f"{p[0]} 9{p[1]}",
            f"{p[0]} {p[1] // 10**4}-{p[1] % 10**4:04d}",
            f"9{p[1] // 10**4}-{p[1] % 10**4:04d}",
            f"+55{p[0]}9{p[1]}",
        ]
    )
)
surroundings = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)


def test_scrub_keeps_business_text() -> None:
    text = "Snapshot 15/01/2026 12:30: 500 unidades, documento 4900001234, item CHP-000002."
    assert t.scrub(text) == text
    assert t.scrub("CPF 529.982.247-25 ou maria@x.com.br") == (
        "CPF [dado pessoal removido] ou [dado pessoal removido]"
    )


@given(
    surroundings,
    st.one_of(
        cpf_bases.map(_cpf),
        cpf_bases.map(lambda b: t.format_cpf(_cpf(b))),
        cnpj_bases.map(lambda b: t.format_cnpj(_cnpj(b))),
        emails,
        phones,
    ),
    surroundings,
)
def test_scrub_removes_personal_data(before: str, personal: str, after: str) -> None:
    scrubbed = t.scrub(f"{before} {personal} {after}")
    assert personal not in scrubbed
    assert t.REMOVED in scrubbed


@given(st.text(alphabet=st.sampled_from("0123456789.-/@ab( )+\n"), max_size=60))
def test_scrub_output_has_no_personal_shape_left(text: str) -> None:
    scrubbed = t.scrub(text)
    for pattern in t.PERSONAL_PATTERNS:
        assert not pattern.search(scrubbed)
