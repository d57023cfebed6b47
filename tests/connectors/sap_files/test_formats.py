"""Parsers on nasty files: encodings, pt-BR headers, SAP number notation, padded MATNR, IDoc."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from sincro.connectors.sap_files import idoc
from sincro.connectors.sap_files.formats import (
    FileFormatError,
    MovementCsvReader,
    MovementRow,
    Reject,
    SnapshotReader,
    SnapshotRow,
    detect_kind,
    format_quantity,
    normalize_matnr,
    parse_quantity,
)
from tests.connectors.sap_files.conftest import SP, sp, write

PT_HEADER = (
    "Material;Centro;Depósito;Utilização livre;Em controle de qualidade;Estoque bloqueado;"
    "Devoluções bloqueadas;Em trânsito;UMB\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,500", Decimal("1234.5")),
        ("12,000-", Decimal(-12)),
        ("-3,000", Decimal(-3)),
        ("0,000", Decimal(0)),
        ("", Decimal(0)),
        ("1.234.567,000", Decimal(1234567)),
    ],
)
def test_sap_numbers(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


def test_sap_numbers_reject_garbage_and_round_trip() -> None:
    for bad in ("12x,5", "1,2,3", "abc"):
        with pytest.raises(ValueError):
            parse_quantity(bad)
    assert parse_quantity("1,234.5", ".") == Decimal("1234.5")
    assert format_quantity(-1234) == "1.234,000-"
    assert parse_quantity(format_quantity(98765)) == 98765


def test_matnr_padding() -> None:
    assert normalize_matnr("000000000000004711") == "4711"
    assert normalize_matnr(" cel-000001 ") == "CEL-000001"


@pytest.mark.parametrize(("encoding", "bom"), [("latin-1", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_pt_br_list_export_in_latin1_and_utf8_bom(
    tmp_path: Path, encoding: str, bom: bytes
) -> None:
    body = (
        "Lista de estoques em depósito\n"
        "Data: 22.11.2026 06:00:00\n\n"
        + PT_HEADER
        + "000000000000004711;2001;0001;1.234,000;2,000;0,000;0,000;5,000;UN\n"
        + "000000000000004712;2001;0001;12,000-;0;0;0;0;UN\n"
        + "000000000000004713;2001;0001;1x;0;0;0;0;UN\n"
        + "\n"
        + ";2001;0001;1,000;0;0;0;0;UN\n"
    )
    path = tmp_path / "estoque.csv"
    path.write_bytes(bom + body.replace("\n", "\r\n").encode(encoding))
    reader = SnapshotReader(path, "auto", ",", SP)
    assert reader.as_of == sp(22, 6)
    assert reader.encoding == ("utf-8-sig" if bom else "latin-1")
    rows = list(reader.rows())
    good = [r for r in rows if isinstance(r, SnapshotRow)]
    assert [(r.matnr, r.labst, r.insme, r.umlme) for r in good] == [
        ("4711", 1234, 2, 5),
        ("4712", -12, 0, 0),  # SAP allows negative unrestricted stock: kept, taken as 0 later
    ]
    rejects = [(r.line, r.field, r.rule) for r in rows if isinstance(r, Reject)]
    assert rejects == [
        (7, "LABST", "bad_number"),
        (9, "MATNR", "missing_field"),
    ]
    assert detect_kind(path) == "snapshot"


def test_technical_header_and_as_of_from_the_name(tmp_path: Path) -> None:
    path = write(
        tmp_path / "MB52_20261122_0600.csv",
        "MATNR;WERKS;LGORT;LABST\n4711;1000;0001;3,000\n",
    )
    reader = SnapshotReader(path, "auto", ",", SP)
    assert reader.as_of == sp(22, 6)
    [row] = list(reader.rows())
    assert isinstance(row, SnapshotRow) and row.labst == 3 and row.unit == ""


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("MB52_20261122_0600.csv", "FOO;BAR\n1;2\n", "no header line"),
        ("estoque.csv", "MATNR;WERKS;LABST\n4711;1000;1\n", "no as-of time"),
    ],
)
def test_unreadable_snapshots(tmp_path: Path, name: str, body: str, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        SnapshotReader(write(tmp_path / name, body), "auto", ",", SP)


IDOC = """<?xml version="1.0" encoding="UTF-8"?>
<WMMBID02>
  <IDOC BEGIN="1">
    <EDI_DC40 SEGMENT="1">
      <DOCNUM>0000000000000042</DOCNUM><IDOCTYP>WMMBID02</IDOCTYP><MESTYP>WMMBXY</MESTYP>
      <CREDAT>20261122</CREDAT><CRETIM>071500</CRETIM>
    </EDI_DC40>
    <E1MBXYH SEGMENT="1">
      <BLDAT>20261122</BLDAT><BUDAT>20261122</BUDAT>
      <E1MBXYI SEGMENT="1">
        <MATNR>000000000000004711</MATNR><WERKS>2001</WERKS><LGORT>0001</LGORT>
        <BWART>251</BWART><SHKZG>H</SHKZG><ERFMG>2.000</ERFMG><ERFME>ST</ERFME>
        <E1MBXYJ SEGMENT="1"><MBLNR>4900000001</MBLNR><MJAHR>2026</MJAHR><MBLPO>0001</MBLPO>
          <MENGE>2.000</MENGE><MEINS>ST</MEINS></E1MBXYJ>
      </E1MBXYI>
      <E1MBXYI SEGMENT="1">
        <MATNR>000000000000004712</MATNR><WERKS>1000</WERKS><LGORT>0001</LGORT>
        <BWART>101</BWART><SHKZG>S</SHKZG><ERFMG>3</ERFMG><ERFME>CX</ERFME>
        <E1MBXYJ SEGMENT="1"><MBLNR>4900000001</MBLNR><MJAHR>2026</MJAHR><MBLPO>0003</MBLPO>
        </E1MBXYJ>
      </E1MBXYI>
      <E1MBXYI SEGMENT="1">
        <WERKS>1000</WERKS><BWART>101</BWART><SHKZG>S</SHKZG><ERFMG>3</ERFMG>
        <E1MBXYJ SEGMENT="1"><MBLNR>4900000001</MBLNR><MJAHR>2026</MJAHR><MBLPO>0004</MBLPO>
        </E1MBXYJ>
      </E1MBXYI>
    </E1MBXYH>
  </IDOC>
</WMMBID02>
"""


def test_idoc_items_stream_with_keys_units_and_known_time(tmp_path: Path) -> None:
    path = write(tmp_path / "WMMBXY_1.xml", IDOC)
    assert idoc.validate(path) == 3 and detect_kind(path) == "movements"
    first, second, third = list(idoc.read_items(path, ".", SP))
    assert isinstance(first, MovementRow) and isinstance(second, MovementRow)
    assert (first.key, first.matnr, first.bwart, first.shkzg, first.quantity, first.unit) == (
        "4900000001/2026/1",
        "4711",
        "251",
        "H",
        2,
        "ST",
    )
    assert (second.item, second.quantity, second.unit) == (3, 3, "CX")
    assert first.known_at == sp(22, 7, 15)  # no CPUTM: the IDoc's creation time bounds it
    assert isinstance(third, Reject) and (third.field, third.rule) == ("MATNR", "missing_field")


def test_truncated_idoc_is_unparseable(tmp_path: Path) -> None:
    path = write(tmp_path / "WMMBXY_2.xml", IDOC[: len(IDOC) // 2])
    with pytest.raises(FileFormatError, match="not well-formed"):
        idoc.validate(path)


def test_flat_movements_with_signed_quantities_and_bad_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mov.csv",
        "MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;LGORT;SHKZG;ERFMG;ERFME;BUDAT;CPUTM\n"
        "4900000002;2026;1;701;4711;2001;0001;;5,000-;UN;22.11.2026;08:30:00\n"
        "4900000002;2026;2;101;4711;2001;0001;X;5,000;UN;20261122;083000\n"
        "4900000002;2026;3;101;4711;2001;0001;S;5,000;UN;2026-13-45;083000\n",
    )
    rows = list(MovementCsvReader(path, "auto", ",", SP).rows())
    first = rows[0]
    assert isinstance(first, MovementRow)
    assert (first.shkzg, first.quantity, first.known_at) == ("H", 5, sp(22, 8, 30))
    assert [(r.field, r.rule) for r in rows[1:] if isinstance(r, Reject)] == [
        ("SHKZG", "bad_value"),
        ("BUDAT", "bad_date"),
    ]
    assert detect_kind(path) == "movements"


def test_posting_day_only_is_bounded_by_its_end() -> None:
    from sincro.connectors.sap_files.formats import movement_known_at

    assert movement_known_at("20261122", None, None, None, SP) == dt.datetime(
        2026, 11, 23, 2, 59, 59, tzinfo=dt.UTC
    )
