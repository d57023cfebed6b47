"""WMMBXY goods movements as IDoc XML (basic type WMMBID02), read as a stream and written.

Layout (one ``IDOC`` per material document; several per file)::

    <WMMBID02>
      <IDOC BEGIN="1">
        <EDI_DC40 SEGMENT="1">  DOCNUM, IDOCTYP=WMMBID02, MESTYP=WMMBXY, SNDPRN, RCVPRN,
                                CREDAT/CRETIM (creation), ARCKEY (Sincro: write-back id)
        <E1MBXYH SEGMENT="1">   BLDAT, BUDAT (posting date), XBLNR, BKTXT, TCODE, USNAM
          <E1MBXYI SEGMENT="1"> MATNR, WERKS, LGORT, CHARG, BWART, SHKZG, ERFMG, ERFME, ...
            <E1MBXYJ SEGMENT="1"> MBLNR, MJAHR, MBLPO (item), MENGE, MEINS (base unit)
            </E1MBXYJ>
          </E1MBXYI>
        </E1MBXYH>
      </IDOC>
    </WMMBID02>

Readers also accept MBLNR/MJAHR on the header or item segment and ZEILE for the item number
(older layouts and middleware flattenings). The posting's "known at" time follows
:func:`formats.movement_known_at` (CPUDT/CPUTM when present, else the control record's
CREDAT/CRETIM, else the end of BUDAT). Parsing uses expat incrementally: memory is bounded by
one IDoc (one material document), not by the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from sincro.connectors.sap_files.formats import (
    FileFormatError,
    MovementRow,
    Reject,
    build_movement,
)

SEGMENTS = frozenset({"EDI_DC40", "E1MBXYH", "E1MBXYI", "E1MBXYJ"})
BLOCK = 1 << 16


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].rsplit("}", 1)[-1]


def _events(path: Path) -> Iterator[tuple[str, str, Any]]:
    """('start', name, line) and ('end', name, text) events, read block by block."""
    parser = expat.ParserCreate()
    pending: list[tuple[str, str, Any]] = []
    text: list[str] = []

    def start(name: str, _attrs: dict[str, str]) -> None:
        pending.append(("start", _local(name), parser.CurrentLineNumber))
        text.clear()

    def end(name: str) -> None:
        pending.append(("end", _local(name), "".join(text).strip()))
        text.clear()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        with path.open("rb") as stream:
            while block := stream.read(BLOCK):
                parser.Parse(block, False)
                yield from pending
                pending.clear()
            parser.Parse(b"", True)
            yield from pending
    except expat.ExpatError as exc:
        raise FileFormatError(f"{path.name}: not well-formed XML ({exc})", exc.lineno) from None


def validate(path: Path) -> int:
    """Check the whole file is a WMMBID02 document; returns its number of items."""
    items, root = 0, None
    for kind, name, _ in _events(path):
        if kind == "start":
            if root is None:
                root = name
                if name not in ("WMMBID02", "WMMBID01", "IDOC"):
                    raise FileFormatError(f"{path.name}: root element {name} is not WMMBID02")
            elif name == "E1MBXYI":
                items += 1
    if root is None:
        raise FileFormatError(f"{path.name}: empty XML")
    return items


@dataclass
class _Item:
    line: int
    fields: dict[str, str]
    j: dict[str, str]


def read_items(path: Path, decimal: str, tz: dt.tzinfo) -> Iterator[MovementRow | Reject]:
    """Every E1MBXYI of the file as a movement row or a reject, in file order."""
    seq = 0
    control: dict[str, str] = {}
    header: dict[str, str] = {}
    items: list[_Item] = []
    stack: list[str] = []
    segment: list[str] = []
    for kind, name, value in _events(path):
        if kind == "start":
            stack.append(name)
            if name == "IDOC":
                control, header, items = {}, {}, []
            elif name == "E1MBXYI":
                items.append(_Item(value, {}, {}))
            if name in SEGMENTS:
                segment.append(name)
            continue
        stack.pop()
        if name in SEGMENTS:
            segment.pop()
        elif name == "IDOC" or (name in ("WMMBID02", "WMMBID01") and items):
            for item in items:
                seq += 1
                yield _movement(seq, item, header, control, decimal, tz)
            items = []
        elif segment and stack and stack[-1] == segment[-1]:
            target = {
                "EDI_DC40": control,
                "E1MBXYH": header,
                "E1MBXYI": items[-1].fields if items else header,
                "E1MBXYJ": items[-1].j if items else header,
            }[segment[-1]]
            target[name] = value


def _movement(
    seq: int,
    item: _Item,
    header: dict[str, str],
    control: dict[str, str],
    decimal: str,
    tz: dt.tzinfo,
) -> MovementRow | Reject:
    fields = dict(item.fields)
    for name in ("MENGE", "MEINS"):  # base quantity lives on E1MBXYJ in WMMBID02
        if item.j.get(name):
            fields[name] = item.j[name]
    get = {
        **{k: v for k, v in header.items() if k in ("BUDAT", "CPUDT", "CPUTM", "XBLNR")},
        **fields,
    }
    get["MBLNR"] = item.j.get("MBLNR") or fields.get("MBLNR") or header.get("MBLNR", "")
    get["MJAHR"] = item.j.get("MJAHR") or fields.get("MJAHR") or header.get("MJAHR", "")
    get["ZEILE"] = (
        item.j.get("MBLPO") or fields.get("MBLPO") or fields.get("ZEILE") or item.j.get("ZEILE", "")
    )
    created = (control.get("CREDAT", ""), control.get("CRETIM", ""))
    return build_movement(seq, item.line, get, decimal, tz, created if created[0] else None)


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdocItem:
    matnr: str  # padded as SAP writes it
    werks: str
    lgort: str
    bwart: str
    shkzg: str
    quantity: str  # SAP notation
    unit: str
    mblnr: str = ""
    mjahr: str = ""
    mblpo: str = ""


@dataclass(frozen=True, slots=True)
class IdocDocument:
    docnum: str
    sender: str
    receiver: str
    created: dt.datetime  # SAP local time
    budat: str  # YYYYMMDD
    items: Sequence[IdocItem]
    arckey: str = ""  # Sincro: the write-back id
    xblnr: str = ""
    cputm: str = ""  # HHMMSS: exact entry time (the simulator's SAP writes it)


def _field(name: str, value: str, indent: str) -> str:
    return f"{indent}<{name}>{escape(value)}</{name}>\n" if value else ""


def render(documents: Sequence[IdocDocument]) -> str:
    """A WMMBID02 XML file holding one IDoc per material document."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<WMMBID02>\n']
    for doc in documents:
        out.append('  <IDOC BEGIN="1">\n    <EDI_DC40 SEGMENT="1">\n')
        for name, value in (
            ("TABNAM", "EDI_DC40"),
            ("DOCNUM", doc.docnum.zfill(16)),
            ("DIRECT", "2" if doc.arckey else "1"),
            ("IDOCTYP", "WMMBID02"),
            ("MESTYP", "WMMBXY"),
            ("SNDPOR", doc.sender),
            ("SNDPRT", "LS"),
            ("SNDPRN", doc.sender),
            ("RCVPOR", doc.receiver),
            ("RCVPRT", "LS"),
            ("RCVPRN", doc.receiver),
            ("CREDAT", doc.created.strftime("%Y%m%d")),
            ("CRETIM", doc.created.strftime("%H%M%S")),
            ("ARCKEY", doc.arckey),
        ):
            out.append(_field(name, value, "      "))
        out.append('    </EDI_DC40>\n    <E1MBXYH SEGMENT="1">\n')
        out.append(_field("BLDAT", doc.budat, "      "))
        out.append(_field("BUDAT", doc.budat, "      "))
        out.append(_field("CPUDT", doc.budat if doc.cputm else "", "      "))
        out.append(_field("CPUTM", doc.cputm, "      "))
        out.append(_field("XBLNR", doc.xblnr[:16], "      "))
        out.append(_field("TCODE", "MB1A" if not doc.arckey else "MIGO", "      "))
        for item in doc.items:
            out.append('      <E1MBXYI SEGMENT="1">\n')
            for name, value in (
                ("MATNR", item.matnr),
                ("WERKS", item.werks),
                ("LGORT", item.lgort),
                ("BWART", item.bwart),
                ("SHKZG", item.shkzg),
                ("ERFMG", item.quantity),
                ("ERFME", item.unit),
            ):
                out.append(_field(name, value, "        "))
            out.append('        <E1MBXYJ SEGMENT="1">\n')
            out.append(_field("MBLNR", item.mblnr, "          "))
            out.append(_field("MJAHR", item.mjahr, "          "))
            out.append(_field("MBLPO", item.mblpo, "          "))
            out.append("        </E1MBXYJ>\n      </E1MBXYI>\n")
        out.append("    </E1MBXYH>\n  </IDOC>\n")
    out.append("</WMMBID02>\n")
    return "".join(out)


def read_outbound(path: Path) -> list[dict[str, Any]]:
    """The ERP side of write-back (simulator): each IDoc's ARCKEY, posting date and items."""
    documents: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    item: dict[str, str] = {}
    for kind, name, value in _events(path):
        if kind == "start":
            if name == "IDOC":
                current = {"items": []}
                documents.append(current)
            elif name == "E1MBXYI":
                item = {}
                current["items"].append(item)
            continue
        if name in ("ARCKEY", "BUDAT", "DOCNUM"):
            current[name] = value
        elif name in ("MATNR", "WERKS", "LGORT", "BWART", "SHKZG", "ERFMG", "ERFME"):
            item[name] = value
    return documents
