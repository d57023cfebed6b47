"""Declarative mappings: transforms, record rejects with their reasons, file validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from sincro.connectors.rest.config import PACKAGED_MAPPINGS
from sincro.connectors.rest.mapping import (
    Mapper,
    Reject,
    cpf_cnpj,
    decimal_comma,
    html_to_text,
    load_mapping,
)
from sincro.errors import InvalidInput
from sincro.simulators.rest import cnpj_digits, cpf_digits

PROTHEUS = load_mapping(PACKAGED_MAPPINGS / "protheus.yaml")
DOCS = load_mapping(PACKAGED_MAPPINGS / "docs_json.yaml")


def customer(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "A1_COD": "000123",
        "A1_LOJA": "01",
        "A1_NOME": "  MARIA DA SILVA   ",
        "A1_CGC": "529.982.247-25",
        "A1_EMAIL": " Maria.Silva@Exemplo.com.br ",
        "A1_MUN": "SAO PAULO",
        "A1_EST": "sp",
        "S_T_A_M_P_": "2026-01-02T03:04:05Z",
    }
    record.update(overrides)
    return record


def test_customer_is_mapped_to_canonical_fields() -> None:
    out = Mapper("customers", PROTHEUS.entities["customers"]).map(customer())
    assert out == {
        "code": "000123-01",
        "name": "MARIA DA SILVA",
        "document": "52998224725",
        "document_kind": "cpf",
        "email": "maria.silva@exemplo.com.br",
        "phone": None,
        "city": "SAO PAULO",
        "state": "SP",
        "birth_date": None,  # not in this record: A1_DTNASC, A1_DTCAD, A1_XPLANO
        "customer_since": None,
        "plan": None,
        "updated_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    }


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"A1_CGC": "529.982.247-24"}, "document", "cpf_check_digits"),
        ({"A1_CGC": "11.222.333/0001-80"}, "document", "cnpj_check_digits"),
        ({"A1_CGC": "1234"}, "document", "document_length"),
        ({"A1_EMAIL": "not-an-email"}, "email", "email"),
        ({"A1_NOME": "   "}, "name", "required"),
        ({"A1_EST": "XX"}, "state", "uf"),
        ({"S_T_A_M_P_": "yesterday"}, "updated_at", "datetime"),
    ],
)
def test_bad_customer_is_rejected_with_field_and_rule(
    overrides: dict[str, object], field: str, rule: str
) -> None:
    out = Mapper("customers", PROTHEUS.entities["customers"]).map(customer(**overrides))
    assert isinstance(out, Reject)
    assert (out.record_key, out.field, out.rule) == ("000123|01", field, rule)
    assert out.message


def test_personal_values_are_masked_in_rejects() -> None:
    out = Mapper("customers", PROTHEUS.entities["customers"]).map(customer(A1_CGC="529.982.247-24"))
    assert isinstance(out, Reject)
    assert out.value is not None and "982.247" not in out.value and "*" in out.value


def test_receivable_dates_money_and_composite_code() -> None:
    mapper = Mapper("receivables", PROTHEUS.entities["receivables"])
    record = {
        "E1_PREFIXO": "NF ",
        "E1_NUM": "000000042",
        "E1_PARCELA": "A",
        "E1_CLIENTE": "000123",
        "E1_LOJA": "01",
        "E1_EMISSAO": "20260105",
        "E1_VENCTO": "20260204",
        "E1_VALOR": "1.234,56",
        "E1_SALDO": "0,00",
    }
    out = mapper.map(record)
    assert isinstance(out, dict)
    assert out["code"] == "NF-000000042-A"
    assert out["customer_code"] == "000123-01"
    assert out["issued"] == dt.date(2026, 1, 5)
    assert out["due_date"] == dt.date(2026, 2, 4)
    assert out["amount"] == Decimal("1234.56") and out["balance"] == Decimal("0.00")
    bad = mapper.map({**record, "E1_VENCTO": "20261345"})
    assert isinstance(bad, Reject) and (bad.field, bad.rule) == ("due_date", "date")
    assert "%Y%m%d" in bad.message and bad.value == "20261345"
    missing = mapper.map({k: v for k, v in record.items() if k != "E1_SALDO"})
    assert isinstance(missing, Reject) and (missing.field, missing.rule) == ("balance", "required")


def test_product_lookup_defaults_and_padding() -> None:
    mapper = Mapper("products", PROTHEUS.entities["products"])
    out = mapper.map(
        {"B1_COD": "cel-000001     ", "B1_DESC": "Galaxy", "B1_GRUPO": "0001", "B1_CODBAR": ""}
    )
    assert isinstance(out, dict)
    assert (out["sku"], out["category"], out["unit"], out["ean"]) == (
        "CEL-000001",
        "smartphones",
        "UN",
        None,
    )
    other = mapper.map({"B1_COD": "X1", "B1_DESC": "Coisa", "B1_GRUPO": "0777"})
    assert isinstance(other, dict) and other["category"] == "outros"


def test_document_html_becomes_text() -> None:
    out = Mapper("documents", DOCS.entities["documents"]).map(
        {
            "id": "DOC-1",
            "title": "Ficha",
            "body_html": "<h1>Título</h1><p>Preço &amp; garantia</p><ul><li>um</li></ul>"
            "<script>x()</script>",
            "version": "2",
            "effective_date": "2026-03-01",
            "type": "folheto",
        }
    )
    assert isinstance(out, dict)
    assert out["body"] == "Título\nPreço & garantia\n- um"
    assert (out["version"], out["kind"], out["language"]) == (2, "leaflet", "pt-BR")
    assert out["effective_date"] == dt.date(2026, 3, 1)


def test_transform_helpers() -> None:
    assert decimal_comma("1.234.567,89") == Decimal("1234567.89")
    assert decimal_comma(12.5) == Decimal("12.5")
    assert html_to_text("a<br>b") == "a\nb"
    for seed in range(50):
        assert cpf_cnpj(cpf_digits(seed)) == cpf_digits(seed)
        assert cpf_cnpj(cnpj_digits(seed)) == cnpj_digits(seed)
    with pytest.raises(ValueError, match="cpf_check_digits"):
        cpf_cnpj("111.111.111-11")


def test_duplicates_in_a_page_collapse_to_the_last() -> None:
    mapper = Mapper("customers", PROTHEUS.entities["customers"])
    good, rejects = mapper.map_page(
        [customer(A1_NOME="A"), customer(A1_NOME="B"), customer(A1_CGC="1")]
    )
    assert [(k, r["name"]) for k, r in good] == [("000123|01", "B")]
    assert len(rejects) == 1


def test_bad_mapping_file_names_the_entity_and_field(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "entities:\n  p:\n    canonical: product\n    path: /x\n"
        "    pagination: {style: page}\n    records_path: items\n    key: [A]\n"
        "    fields:\n      sku: {from: A, transforms: [shout]}\n      name: {from: B}\n"
    )
    with pytest.raises(InvalidInput, match=r"entities\.p.*fields\.sku: unknown transform 'shout'"):
        load_mapping(path)
    path.write_text("entities: [\n")
    with pytest.raises(InvalidInput, match="line"):
        load_mapping(path)


def test_new_protheus_fields() -> None:
    """SB1 price and replenishment fields, SA1 birth/registration dates and the custom plan
    field, SE1 number, payment date and status, and the custom ZPL/ZPR tables."""
    product = Mapper("products", PROTHEUS.entities["products"]).map(
        {
            "B1_COD": "CEL-1",
            "B1_DESC": "Galaxy",
            "B1_PRV1": 1299.9,
            "B1_PE": 12,
            "B1_QE": 0.0,
            "B1_PROC": " f00042 ",
        }
    )
    assert isinstance(product, dict)
    assert (product["list_price"], product["lead_time_days"]) == (Decimal("1299.9"), 12)
    assert product["pack_size"] is None and product["supplier_code"] == "F00042"  # 0: not filled
    bad_lead = Mapper("products", PROTHEUS.entities["products"]).map(
        {"B1_COD": "CEL-1", "B1_DESC": "Galaxy", "B1_PE": 2.5}
    )
    assert isinstance(bad_lead, Reject) and (bad_lead.field, bad_lead.rule) == (
        "lead_time_days",
        "integer",
    )
    person = Mapper("customers", PROTHEUS.entities["customers"]).map(
        customer(A1_DTNASC="19850317", A1_DTCAD="20250102", A1_XPLANO="ctrl-25   ")
    )
    assert isinstance(person, dict)
    assert person["birth_date"] == dt.date(1985, 3, 17)
    assert person["customer_since"] == dt.date(2025, 1, 2) and person["plan"] == "CTRL-25"
    company = Mapper("customers", PROTHEUS.entities["customers"]).map(
        customer(A1_DTNASC="        ")
    )
    assert isinstance(company, dict) and company["birth_date"] is None
    wrong = Mapper("customers", PROTHEUS.entities["customers"]).map(customer(A1_DTNASC="19853117"))
    assert (
        isinstance(wrong, Reject)
        and wrong.field == "birth_date"
        and "1985" not in (wrong.value or "")
    )
    receivables = Mapper("receivables", PROTHEUS.entities["receivables"])
    base = {"E1_PREFIXO": "NF ", "E1_NUM": " 000000042", "E1_PARCELA": "A", "E1_CLIENTE": "1",
            "E1_LOJA": "01", "E1_VENCTO": "20260204", "E1_VALOR": "10,00"}  # fmt: skip
    paid = receivables.map({**base, "E1_SALDO": "0,00", "E1_BAIXA": "20260201", "E1_STATUS": "B"})
    assert isinstance(paid, dict)
    assert (paid["number"], paid["paid"], paid["status"]) == (
        "000000042",
        dt.date(2026, 2, 1),
        "paid",
    )
    open_ = receivables.map({**base, "E1_SALDO": "10,00", "E1_BAIXA": "        "})
    assert isinstance(open_, dict) and open_["paid"] is None and open_["status"] is None
    unknown = receivables.map({**base, "E1_SALDO": "10,00", "E1_STATUS": "X"})
    assert isinstance(unknown, Reject) and (unknown.field, unknown.rule) == ("status", "lookup")
    plan = Mapper("plans", PROTHEUS.entities["plans"]).map(
        {
            "ZPL_COD": "fibra-300 ",
            "ZPL_DESC": "Fibra",
            "ZPL_TIPO": "4",
            "ZPL_VALOR": "89,99",
            "ZPL_FRANQ": 0,
            "ZPL_MSBLQL": "1",
        }
    )
    assert isinstance(plan, dict)
    assert (plan["code"], plan["kind"], plan["monthly_price"]) == (
        "FIBRA-300",
        "fibra",
        Decimal("89.99"),
    )
    assert plan["data_gb"] is None and plan["active"] is False
    promo = Mapper("promotions", PROTHEUS.entities["promotions"]).map(
        {
            "ZPR_COD": "p1",
            "ZPR_DESC": "Promo",
            "ZPR_PROD": "   ",
            "ZPR_PLANO": "CTRL-25",
            "ZPR_PERC": 30.0,
            "ZPR_PRECO": 0.0,
            "ZPR_DTINI": "20260101",
            "ZPR_DTFIM": "        ",
            "ZPR_CANAL": "3",
        }
    )
    assert isinstance(promo, dict)
    assert (promo["sku"], promo["plan"], promo["promo_price"], promo["channel"]) == (
        None, "CTRL-25", None, "online")  # fmt: skip
    assert promo["discount_percent"] == Decimal("30.0") and promo["valid_to"] is None
