"""The exact rules: CPF/CNPJ (valid and not), CEP, phone, e-mail, order and invoice numbers,
city/UF with and without accents, products with typos — and offsets into the original text,
emoji and accents included."""

from __future__ import annotations

import pytest

from sincro.assistant.entities import Entity, Places, Products, find

PLACES = Places(
    [("São Paulo", "SP"), ("Campinas", "SP"), ("Niterói", "RJ"), ("Belo Horizonte", "MG")]
)
PRODUCTS = Products(
    [
        ("APL-IP15PM-256", "Apple iPhone 15 Pro Max 256GB Titânio Preto"),
        ("APL-IP15PM-512", "Apple iPhone 15 Pro Max 512GB Titânio Azul"),
        ("APL-IP15-128", "Apple iPhone 15 128GB Preto"),
        ("SMG-A05-PRT", "Samsung Galaxy A05 128GB Preto"),
        ("SMG-A05-AZL", "Samsung Galaxy A05 128GB Azul"),
        ("MOT-G84", "Motorola Moto G84 5G 256GB Grafite"),
    ]
)


def entities(text: str) -> list[Entity]:
    found = find(text, PLACES, PRODUCTS)
    for e in found:  # offsets always point at the value in the original text
        assert text[e.start : e.end] == e.value
    return found


def one(text: str, kind: str) -> Entity:
    matching = [e for e in entities(text) if e.type == kind]
    assert len(matching) == 1, entities(text)
    return matching[0]


@pytest.mark.parametrize("written", ["529.982.247-25", "52998224725"])
def test_a_valid_cpf_formatted_or_bare(written: str) -> None:
    cpf = one(f"meu cpf e {written} ok", "cpf")
    assert (cpf.value, cpf.normalized, cpf.valid) == (written, "529.982.247-25", True)


def test_an_invalid_cpf_is_reported_as_invalid() -> None:
    cpf = one("cpf 529.982.247-26", "cpf")
    assert cpf.valid is False
    assert one("cpf 12345678900", "cpf").valid is False


def test_eleven_bare_digits_failing_as_cpf_but_shaped_like_a_mobile_are_a_phone() -> None:
    assert [e.type for e in entities("me liga 11987654321")] == ["phone"]
    assert one("me liga 11987654321", "phone").normalized == "+5511987654321"


def test_cnpj_valid_and_not() -> None:
    good = one("cnpj 11.222.333/0001-81 da empresa", "cnpj")
    assert (good.normalized, good.valid) == ("11.222.333/0001-81", True)
    assert one("cnpj 11.222.333/0001-82", "cnpj").valid is False
    assert [e.type for e in entities("cnpj 11222333000181")] == ["cnpj"]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [("cep 01310-100", "01310-100"), ("CEP: 01310100", "01310-100"), ("01.310-100", "01310-100")],
)
def test_cep(text: str, normalized: str) -> None:
    assert one(text, "cep").normalized == normalized


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("(11) 98765-4321", "+5511987654321"),
        ("+55 21 99876-5432", "+5521998765432"),
        ("11 3456-7890", "+551134567890"),
        ("98765-4321", "987654321"),
    ],
)
def test_phone_formats(text: str, normalized: str) -> None:
    assert one(f"meu numero {text}, obrigado", "phone").normalized == normalized


def test_email_lower_cased_and_not_taken_by_other_rules() -> None:
    found = entities("manda pra Maria.Silva+1@Exemplo.com.br pfv")
    assert [(e.type, e.normalized) for e in found] == [("email", "maria.silva+1@exemplo.com.br")]
    assert entities("meu email e joao@") == []


@pytest.mark.parametrize(
    ("text", "kind", "normalized"),
    [
        ("segunda via da fatura 884512", "invoice", "884512"),
        ("boleto nº 123456 venceu", "invoice", "123456"),
        ("meu pedido PED-2026-000123 nao chegou", "order", "PED-2026-000123"),
        ("pedido ped2026000123", "order", "PED-2026-000123"),
        ("pedido numero 778899", "order", "778899"),
        ("reserva #4455", "order", "4455"),
        (
            "reserva 3F2C1B9E-1C2D-4E5F-8A9B-0C1D2E3F4A5B ok?",
            "order",
            "3f2c1b9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        ),
    ],
)
def test_order_and_invoice_numbers(text: str, kind: str, normalized: str) -> None:
    assert one(text, kind).normalized == normalized


def test_a_bare_number_is_neither_order_nor_invoice() -> None:
    assert entities("tenho 12345 duvidas") == []


@pytest.mark.parametrize("written", ["São Paulo", "sao paulo", "SAO PAULO", "Sao Paulo"])
def test_city_with_and_without_accents(written: str) -> None:
    city = one(f"tem loja em {written}?", "city")
    assert (city.value, city.normalized) == (written, "São Paulo/SP")


def test_city_then_uf_and_state_names() -> None:
    found = entities("loja em niteroi/RJ ou em Minas Gerais, ou no Pará")
    assert [(e.type, e.normalized) for e in found] == [
        ("city", "Niterói/RJ"),
        ("uf", "RJ"),
        ("uf", "MG"),
        ("uf", "PA"),
    ]


def test_lower_case_uf_codes_and_para_are_everyday_words() -> None:
    # "to", "es", "pa", "para": words, not states, when written in lower case
    assert entities("to indo para casa, es isso") == []
    assert one("loja em campinas sp", "uf").normalized == "SP"  # right after a city: a UF
    assert one("alguma loja em SC?", "uf").normalized == "SC"


@pytest.mark.parametrize(
    ("text", "sku"),
    [
        ("tem iphone 15 pro max 256 ai?", "APL-IP15PM-256"),
        ("IPHONE 15 PRO MAX 512", "APL-IP15PM-512"),
        ("o iphnoe 15 pro max 256gb", "APL-IP15PM-256"),
        ("galaxy a05 preto", "SMG-A05-PRT"),
        ("galaxi a05 azul", "SMG-A05-AZL"),
        ("moto g84", "MOT-G84"),
        ("o sku APL-IP15-128 tem?", "APL-IP15-128"),
    ],
)
def test_products_tolerant_to_typos(text: str, sku: str) -> None:
    assert one(text, "product").normalized == sku


def test_a_lone_common_word_is_not_a_product() -> None:
    assert [e for e in entities("quero um celular preto") if e.type == "product"] == []


def test_offsets_count_emoji_and_accents_as_one() -> None:
    text = "Olá 👋😊 ação: CPF 529.982.247-25, São Paulo 🙏 galaxy a05 preto"
    found = entities(text)
    assert [e.type for e in found] == ["cpf", "city", "product"]
    cpf, city, product = found
    assert cpf.start == text.index("529")
    assert (city.start, city.end) == (text.index("São"), text.index("São") + len("São Paulo"))
    assert product.end == len(text)


def test_hostile_text_is_only_text() -> None:
    for text in ["", " ", "🙂" * 500, "9" * 2000, "a@b.c" * 200, "PED-" * 300, "\u0301" * 50]:
        for e in find(text, PLACES, PRODUCTS):
            assert 0 <= e.start < e.end <= len(text)


def test_a_run_of_generic_words_names_no_product() -> None:
    # storage and colour are in many names: without a brand, line or model code, no product
    assert [e for e in entities("quero 128 preto") if e.type == "product"] == []
    assert one("um iphone 128 preto", "product").normalized == "APL-IP15-128"
