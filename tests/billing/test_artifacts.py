"""Payment artifacts: the boleto (FEBRABAN barcode and digitable line, Banco do Brasil free
field), the PIX BR Code (EMV MPM with CRC16-CCITT-FALSE) and the invoice PDF."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pypdf
import pytest
from hypothesis import given, settings, strategies as st

from sincro.billing import boleto, pix
from sincro.billing.invoice_pdf import InvoiceDocument, render

# A published example: pyboleto's Banco do Brasil test (convênio 7777777, nosso número 87654,
# carteira 18, due 2011-03-08, R$ 2.952,95), the layout of BB's boleto specification.
BB_BARCODE = "00196490000002952950000007777777000008765418"
BB_LINE = "00190.00009 07777.777009 00087.654182 6 49000000295295"
# The static BR Code example of the BCB's "Manual de Padrões para Iniciação do Pix".
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)

dates = st.dates(min_value=dt.date(2000, 7, 3), max_value=dt.date(2049, 12, 31))
amounts = st.decimals(min_value=0, max_value=boleto.MAX_AMOUNT, places=2)
agreements = st.from_regex(r"\A[0-9]{7}\Z")
wallets = st.from_regex(r"\A[0-9]{2}\Z")
complements = st.integers(min_value=0, max_value=10**10 - 1)


def test_published_banco_do_brasil_example() -> None:
    free = boleto.bb_free_field("7777777", 87654, "18")
    slip = boleto.build("001", dt.date(2011, 3, 8), Decimal("2952.95"), free)
    assert slip.barcode == BB_BARCODE
    assert slip.digitable_formatted == BB_LINE
    assert boleto.barcode_from_digitable(BB_LINE) == BB_BARCODE


def test_due_factor_rolls_over_on_2025_02_22() -> None:
    assert boleto.due_factor(dt.date(2000, 7, 3)) == 1000
    assert boleto.due_factor(dt.date(2011, 3, 8)) == 4900
    assert boleto.due_factor(dt.date(2025, 2, 21)) == 9999
    assert boleto.due_factor(dt.date(2025, 2, 22)) == 1000  # the new base date: 2022-05-29
    assert boleto.due_factor(dt.date(2022, 5, 29) + dt.timedelta(days=1234)) == 1234
    assert boleto.factor_date(1000, near=dt.date(2025, 3, 1)) == dt.date(2025, 2, 22)
    assert boleto.factor_date(1000, near=dt.date(2000, 8, 1)) == dt.date(2000, 7, 3)
    with pytest.raises(boleto.BoletoError):
        boleto.due_factor(dt.date(1999, 1, 1))


def test_check_digit_rules() -> None:
    assert boleto.mod10("001900000") == "9"  # field 1 of the published line
    assert boleto.mod10("0") == "0"
    # mod 11: 0, 10 and 11 become 1; the published barcode's digit is 6
    assert boleto.mod11_barcode(BB_BARCODE[:4] + BB_BARCODE[5:]) == "6"
    assert all(boleto.mod11_barcode(f"{n:043d}") != "0" for n in range(0, 2000, 7))  # never 0


@given(due=dates, amount=amounts, agreement=agreements, complement=complements, wallet=wallets)
@settings(max_examples=100, deadline=None)
def test_boleto_round_trips(
    due: dt.date, amount: Decimal, agreement: str, complement: int, wallet: str
) -> None:
    free = boleto.bb_free_field(agreement, complement, wallet)
    slip = boleto.build("001", due, amount, free)
    assert len(slip.barcode) == 44 and slip.barcode.isdigit()
    assert len(slip.digitable) == 47 and slip.digitable.isdigit()
    assert slip.barcode[:4] == "0019"
    assert slip.barcode[4] == boleto.mod11_barcode(slip.barcode[:4] + slip.barcode[5:])
    assert slip.barcode[4] != "0"
    assert boleto.factor_date(int(slip.barcode[5:9]), near=due) == due
    assert Decimal(int(slip.barcode[9:19])) / 100 == amount
    assert slip.nosso_numero == free and free[6:13] == agreement and free[-2:] == wallet
    assert int(free[13:23]) == complement
    assert boleto.barcode_from_digitable(slip.digitable_formatted) == slip.barcode


@given(
    due=dates,
    amount=amounts,
    complement=complements,
    position=st.sampled_from([*range(0, 10), *range(10, 21), *range(21, 32)]),
    delta=st.integers(min_value=1, max_value=9),
)
@settings(max_examples=100, deadline=None)
def test_a_mistyped_digit_in_fields_1_to_3_is_caught(
    due: dt.date, amount: Decimal, complement: int, position: int, delta: int
) -> None:
    slip = boleto.build("001", due, amount, boleto.bb_free_field("1234567", complement, "17"))
    digits = list(slip.digitable)
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(boleto.BoletoError):
        boleto.barcode_from_digitable("".join(digits))


def test_boleto_refuses_what_it_cannot_carry() -> None:
    free = boleto.bb_free_field("1234567", 1, "17")
    with pytest.raises(boleto.BoletoError):
        boleto.build("001", dt.date(2026, 1, 1), Decimal("100000000.00"), free)
    with pytest.raises(boleto.BoletoError):
        boleto.bb_free_field("123456", 1, "17")
    with pytest.raises(boleto.BoletoError):
        boleto.barcode_from_digitable("1234")


def test_pix_matches_the_bcb_manual_example_and_the_crc_check_value() -> None:
    assert pix.crc16_ccitt_false(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    code = pix.br_code("123e4567-e12b-12d1-a456-426655440000", "Fulano de Tal", "BRASILIA")
    assert code == BCB_EXAMPLE
    assert pix.parse(code)["63"] == "1D3D"


def test_pix_with_amount_txid_and_accents() -> None:
    code = pix.br_code(
        "financeiro@sincro.example",
        "Sincro Telecomunicações Ltda",
        "São João del-Rei",
        amount=Decimal("1234.5"),
        txid="SINCRO42",
    )
    fields = pix.parse(code)
    assert fields["54"] == "1234.50"
    assert fields["59"] == "Sincro Telecomunicacoes L"  # 25 characters, ASCII
    assert fields["60"] == "Sao Joao del-Re"  # 15
    assert pix.tlv(fields["26"]) == {"00": "br.gov.bcb.pix", "01": "financeiro@sincro.example"}
    assert pix.tlv(fields["62"]) == {"05": "SINCRO42"}
    with pytest.raises(pix.PixError):
        pix.br_code("k", "N", "C", txid="not valid!")
    with pytest.raises(pix.PixError):
        pix.br_code("", "N", "C")


keys = st.one_of(
    st.from_regex(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"),
    st.from_regex(r"\A\+55[0-9]{11}\Z"),
    st.from_regex(r"\A[0-9]{14}\Z"),
    st.from_regex(r"\A[a-z]{1,20}@[a-z]{1,20}\.com\.br\Z"),
)


@given(
    key=keys,
    name=st.text(min_size=1, max_size=40).filter(lambda t: pix.ascii_text(t, 25)),
    city=st.text(min_size=1, max_size=30).filter(lambda t: pix.ascii_text(t, 15)),
    amount=st.none() | st.decimals(min_value=Decimal("0.01"), max_value=10**7, places=2),
    txid=st.just("***") | st.from_regex(r"\A[A-Za-z0-9]{1,25}\Z"),
    position=st.integers(min_value=0, max_value=10_000),
)
@settings(max_examples=100, deadline=None)
def test_pix_fields_and_crc_hold_and_any_changed_character_is_caught(
    key: str, name: str, city: str, amount: Decimal | None, txid: str, position: int
) -> None:
    code = pix.br_code(key, name, city, amount=amount, txid=txid)
    fields = pix.parse(code)
    assert fields["00"] == "01" and fields["52"] == "0000" and fields["53"] == "986"
    assert fields["58"] == "BR"
    assert pix.tlv(fields["26"])["01"] == key
    assert fields.get("54") == (None if amount is None else f"{amount:.2f}")
    assert pix.tlv(fields["62"])["05"] == txid
    assert list(fields) == sorted(fields)  # ascending IDs, CRC last
    i = position % (len(code) - 4)
    changed = code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1 :]
    with pytest.raises(pix.PixError):
        pix.parse(changed)


def test_invoice_pdf_parses_and_carries_what_a_customer_needs_to_pay() -> None:
    free = boleto.bb_free_field("1234567", 42, "17")
    slip = boleto.build("001", dt.date(2026, 3, 10), Decimal("1234.56"), free)
    code = pix.br_code(
        "financeiro@sincro.example", "Sincro", "São Paulo", amount=Decimal("1234.56")
    )
    doc = InvoiceDocument(
        number="000123",
        customer_name="José da Conceição",
        beneficiary_name="Sincro Telecom",
        beneficiary_document="12.345.678/0001-95",
        issued_on=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 10),
        amount=Decimal("1234.56"),
        balance=Decimal("1234.56"),
        digitable_line=slip.digitable_formatted,
        barcode=slip.barcode,
        pix_code=code,
    )
    data = render(doc)
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in (
        "Fatura nº 000123",
        "José da Conceição",
        "Vencimento",
        "10/03/2026",
        "R$ 1.234,56",
        slip.digitable_formatted,
        "PIX copia e cola",
    ):
        assert expected in text, expected
    assert code in text.replace("\n", "")
    assert reader.pages[0].images, "the PIX QR code is an image on the page"
    assert render(doc) == data  # deterministic
