"""Streaming parsers (and writers) of the SAP flat files: MARD/MB52 stock snapshots, flat
WMMBXY goods movements, write-back acknowledgements.

Every parser reads the file as it goes (memory does not grow with the file) and yields, per
data row, either a parsed row or a :class:`Reject` naming the line, field and rule: a bad row
never stops the good ones. A file that cannot be read at all (no recognisable header, no as-of
time) raises :class:`FileFormatError` before any row is yielded, so the caller can set the file
aside whole.

Text: UTF-8 with or without BOM, or Latin-1 (SAP code page 1100). ``encoding: auto`` honours a
BOM, otherwise decodes UTF-8 and switches to Latin-1 for the rest of the file at the first line
that is not valid UTF-8 (a Latin-1 file is plain ASCII up to its first accented character).

Numbers as SAP lists print them: decimal comma, ``.`` thousands, trailing minus
(``1.234,000``, ``12,000-``); ``decimal_separator: "."`` for exports in the other notation.
Material numbers: the 18-character zero padding of numeric MATNR is stripped (SAP's ALPHA
conversion); alphanumeric material numbers are kept as they are, upper-cased.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from sincro.text_pt import decimal_br, plain

SNIFF_BYTES = 16_384
PREAMBLE_LINES = 40


class FileFormatError(ValueError):
    """The file as a whole cannot be read (wrong header, not XML, no as-of time...)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


# What reading a file may raise besides FileFormatError: any of these means the file (not the
# database, not the process) is at fault, and it is set aside whole. ValueError covers
# UnicodeError and decimal's errors; SyntaxError covers XML parse errors.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    LookupError,
    ArithmeticError,
    TypeError,
    EOFError,
    SyntaxError,
    csv.Error,
)


def parse_error_reason(exc: BaseException) -> str:
    """The reason written next to a quarantined file."""
    if isinstance(exc, FileFormatError):
        return str(exc)
    return f"unreadable file ({type(exc).__name__}: {exc})"


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that was not applied: where, which field, which rule."""

    seq: int
    line: int
    field: str | None
    rule: str
    value: str | None
    message: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    seq: int
    line: int
    matnr: str
    werks: str
    lgort: str
    labst: Decimal
    insme: Decimal
    speme: Decimal
    retme: Decimal
    umlme: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class MovementRow:
    seq: int
    line: int
    document: str  # MBLNR (no padding)
    year: int  # MJAHR
    item: int  # ZEILE / MBLPO
    bwart: str
    shkzg: str  # S (in) | H (out)
    matnr: str
    werks: str
    lgort: str
    quantity: Decimal  # ERFMG (unit of entry), unsigned
    unit: str  # ERFME
    base_quantity: Decimal | None  # MENGE (base unit), unsigned
    base_unit: str | None  # MEINS
    known_at: dt.datetime  # when the ERP knew of it (see idoc.py / movement_known_at)
    reference: str | None = None

    @property
    def key(self) -> str:
        return f"{self.document}/{self.year}/{self.item}"


@dataclass(frozen=True, slots=True)
class AckRow:
    seq: int
    line: int
    writeback_id: str
    document: str
    year: int
    posted_at: dt.datetime
    status: str  # OK | ERROR
    message: str | None


# --- values --------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_ZERO_TEXTS = frozenset({"", "0", "0,000", "0,00", "0,0", "0.000", "0.00", "0.0", ",000", "-"})


def parse_quantity(text: str, decimal: str = ",") -> Decimal:
    """``"1.234,500"`` -> 1234.5, ``"12,000-"`` -> -12 (trailing or leading minus)."""
    value = text.strip()
    if value in _ZERO_TEXTS:
        return Decimal(0)
    negative = False
    if value.endswith("-"):
        negative, value = True, value[:-1].strip()
    elif value.startswith("-"):
        negative, value = True, value[1:].strip()
    if decimal == ",":
        value = value.replace(".", "").replace(" ", "").replace(",", ".")
    else:
        value = value.replace(",", "").replace(" ", "")
    if not _NUMBER.match(value):
        raise ValueError(f"not a number: {text!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern guards it
        raise ValueError(f"not a number: {text!r}") from None
    return -number if negative else number


def to_base_units(quantity: Decimal, factor: int) -> int:
    """Quantity in base units; ValueError when it is not a whole number of them."""
    value = quantity * factor
    if value != value.to_integral_value():
        raise ValueError(f"{quantity} x {factor} is not a whole number of base units")
    return int(value)


def format_quantity(value: int | Decimal, decimal: str = ",", places: int = 3) -> str:
    """SAP list notation: ``1234`` -> ``"1.234,000"``, ``-12`` -> ``"12,000-"``."""
    magnitude = abs(Decimal(value))
    text = decimal_br(magnitude, places) if decimal == "," else f"{magnitude:,.{places}f}"
    return text + ("-" if value < 0 else "")


def normalize_matnr(raw: str) -> str:
    """MATNR without SAP's zero padding (numeric only), upper-cased, trimmed."""
    value = raw.strip().upper()
    if value.isdigit():
        return value.lstrip("0") or "0"
    return value


def pad_matnr(code: str) -> str:
    """The 18-character form SAP ECC writes for numeric material numbers."""
    return code.zfill(18) if code.isdigit() else code


@functools.lru_cache(maxsize=4096)  # a file's rows share few posting dates and times
def sap_datetime(
    date: str, time: str | None, tz: dt.tzinfo, *, end_of_day: bool = False
) -> dt.datetime:
    """``20261122``/``22.11.2026`` (+ ``060000``/``06:00:00``), SAP local time -> aware UTC."""
    date = date.strip()
    if re.fullmatch(r"\d{8}", date):
        day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    elif m := re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})", date):
        day = dt.date(int(m[3]), int(m[2]), int(m[1]))
    elif m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", date):
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    else:
        raise ValueError(f"not a date: {date!r}")
    clock = (time or "").strip().replace(":", "")
    if clock and clock.strip("0"):
        if not re.fullmatch(r"\d{4}|\d{6}", clock):
            raise ValueError(f"not a time: {time!r}")
        moment = dt.time(int(clock[:2]), int(clock[2:4]), int(clock[4:6] or 0))
    elif clock:
        moment = dt.time(0, 0, 0)
    else:
        moment = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0, 0)
    return dt.datetime.combine(day, moment, tzinfo=tz).astimezone(dt.UTC)


# --- text --------------------------------------------------------------------------------


class LineReader:
    """Decoded lines of a binary file, with the encoding detected as described above."""

    def __init__(self, stream: IO[bytes], encoding: str = "auto") -> None:
        self.stream = stream
        self.encoding = "utf-8" if encoding == "auto" else encoding
        self.auto = encoding == "auto"
        self.bom = False

    def __iter__(self) -> Iterator[str]:
        first = True
        for raw in self.stream:
            if first:
                first = False
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                    self.bom, self.auto, self.encoding = True, False, "utf-8"
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError:
                if not self.auto:
                    yield raw.decode(self.encoding, errors="replace")
                    continue
                self.encoding, self.auto = "latin-1", False
                yield raw.decode("latin-1")


def _cells(row: list[str]) -> list[str]:
    return [c.strip() for c in row]


_BINARY_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"%PDF", "a PDF document"),
)


def binary_content(head: bytes) -> str | None:
    """What a file that is not text is (``"a gzip-compressed file"``), from its first bytes;
    None for text. A NUL byte in the head is taken as binary (no SAP text export has one)."""
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            return what
    return "a binary file (NUL bytes)" if b"\x00" in head else None


def check_text(path: Path) -> None:
    """FileFormatError when ``path`` is not a text file (compressed, archive, binary)."""
    with path.open("rb") as stream:
        what = binary_content(stream.read(SNIFF_BYTES))
    if what:
        raise FileFormatError(
            f"{path.name}: {what}, not a text export; decompress it and drop it again"
        )


class _CsvFile:
    """A ``;`` file with optional preamble lines before the column header. Lines without a
    quote are split directly (the hot path); lines with one go through :mod:`csv` (quoted
    cells may hold ``;``, not line breaks). Anything :mod:`csv` or the decoder cannot read
    raises :class:`FileFormatError` with the line: the file is set aside whole."""

    def __init__(self, path: Path, encoding: str) -> None:
        check_text(path)
        self.path = path
        self.stream: IO[bytes] = path.open("rb")
        self.lines = LineReader(self.stream, encoding)
        self.line_num = 0
        self.iter = self._read()
        self.preamble: list[str] = []

    def _read(self) -> Iterator[tuple[int, list[str]]]:
        line = 0
        try:
            for line, text in enumerate(self.lines, start=1):
                if '"' in text:
                    yield line, next(csv.reader([text], delimiter=";", quotechar='"'), [""])
                elif "\x00" in text:
                    raise FileFormatError(f"{self.path.name}: NUL byte in a text line", line)
                else:
                    yield line, text.rstrip("\r\n").split(";")
        except csv.Error as exc:  # e.g. a quote and a bare CR on one line
            self.close()
            raise FileFormatError(f"{self.path.name}: unreadable line ({exc})", line) from None
        except (UnicodeError, LookupError) as exc:  # a line the encoding cannot decode
            self.close()
            raise FileFormatError(f"{self.path.name}: cannot decode ({exc})", line + 1) from None

    def find_header(self, accept: dict[str, str], required: set[str]) -> dict[str, int]:
        """Column index of each wanted field, from the first line naming the required ones."""
        for line, row in self.iter:
            if line > PREAMBLE_LINES:
                break
            columns: dict[str, int] = {}
            for index, cell in enumerate(row):
                name = accept.get(plain(cell))
                if name and name not in columns:
                    columns[name] = index
            if required <= columns.keys():
                return columns
            self.preamble.append(";".join(row))
        self.close()
        wanted = ", ".join(sorted(required))
        raise FileFormatError(f"{self.path.name}: no header line naming {wanted}")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        for line, row in self.iter:
            first = row[0]
            if (not first or first.isspace()) and not "".join(row).strip():
                continue  # a blank line
            yield line, row

    def close(self) -> None:
        self.stream.close()


def _get(row: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


# --- stock snapshots ------------------------------------------------------------------------

SNAPSHOT_HEADERS: dict[str, str] = {
    **{plain(n): "MATNR" for n in ("MATNR", "Material", "Nº material", "N material")},
    **{plain(n): "WERKS" for n in ("WERKS", "Centro", "Plant", "Cen.")},
    **{plain(n): "LGORT" for n in ("LGORT", "Depósito", "Deposito", "Storage Location", "Dep.")},
    **{
        plain(n): "LABST" for n in ("LABST", "Utilização livre", "Utilizacao livre", "Unrestricted")
    },
    **{
        plain(n): "INSME"
        for n in ("INSME", "Em controle de qualidade", "Controle qualidade", "In Quality Insp.")
    },
    **{plain(n): "SPEME" for n in ("SPEME", "Estoque bloqueado", "Bloqueado", "Blocked")},
    **{plain(n): "RETME" for n in ("RETME", "Devoluções bloqueadas", "Devoluções", "Returns")},
    **{
        plain(n): "UMLME"
        for n in ("UMLME", "Em trânsito", "Em transferência", "Transf.(dep.)", "In transfer")
    },
    **{plain(n): "MEINS" for n in ("MEINS", "UMB", "UM básica", "Unidade de medida básica", "BUn")},
}
_AS_OF_LINE = re.compile(
    r"(?:data|date|stichtag)[^:]*:\s*(\d{2}\.\d{2}\.\d{4})(?:\D+(\d{2}:\d{2}(?::\d{2})?))?",
    re.IGNORECASE,
)
_AS_OF_NAME = re.compile(r"(\d{8})[_-](\d{4}(?:\d{2})?)(?!\d)")
BUCKETS = ("LABST", "INSME", "SPEME", "RETME", "UMLME")
_BUCKETS = BUCKETS


def as_of_from_name(name: str, tz: dt.tzinfo) -> dt.datetime | None:
    match = _AS_OF_NAME.search(name)
    if not match:
        return None
    try:
        return sap_datetime(match[1], match[2], tz)
    except ValueError:
        return None


class SnapshotReader:
    """A MARD / MB52 export. ``as_of`` comes from a ``Data: dd.mm.aaaa hh:mm:ss`` line of the
    preamble, else from the file name (``MB52_20261122_0600.csv``)."""

    def __init__(self, path: Path, encoding: str, decimal: str, tz: dt.tzinfo) -> None:
        self.path, self.decimal = path, decimal
        self.file = _CsvFile(path, encoding)
        self.columns = self.file.find_header(SNAPSHOT_HEADERS, {"MATNR", "WERKS", "LABST"})
        as_of: dt.datetime | None = None
        for text in self.file.preamble:
            if match := _AS_OF_LINE.search(text):
                as_of = sap_datetime(match[1], match[2] or "000000", tz)
                break
        as_of = as_of or as_of_from_name(path.name, tz)
        if as_of is None:
            self.file.close()
            raise FileFormatError(
                f"{path.name}: no as-of time (a 'Data: dd.mm.aaaa hh:mm:ss' line or a name"
                " like MB52_20261122_0600.csv)"
            )
        self.as_of: dt.datetime = as_of

    @property
    def encoding(self) -> str:
        return "utf-8-sig" if self.file.lines.bom else self.file.lines.encoding

    def raw(self) -> Iterator[tuple[int, int, list[str]]]:
        """(record number, line, cells) of every non-blank data row; closes the file."""
        seq = 0
        try:
            for line, row in self.file.rows():
                seq += 1
                yield seq, line, row
        finally:
            self.file.close()

    def rows(self) -> Iterator[SnapshotRow | Reject]:
        for seq, line, row in self.raw():
            yield self.parse(seq, line, row)

    def parse(self, seq: int, line: int, row: list[str]) -> SnapshotRow | Reject:
        """One data row, checked field by field."""
        columns, decimal = self.columns, self.decimal
        matnr = normalize_matnr(_get(row, columns, "MATNR"))
        werks = _get(row, columns, "WERKS")
        key = f"{matnr}@{werks}"
        if not matnr or matnr == "0":
            return Reject(seq, line, "MATNR", "missing_field", None, "no material", key)
        if not werks:
            return Reject(seq, line, "WERKS", "missing_field", None, "no plant", key)
        values: list[Decimal] = []
        for name in _BUCKETS:
            text = _get(row, columns, name)
            try:
                value = parse_quantity(text, decimal)
            except ValueError:
                return Reject(
                    seq, line, name, "bad_number", text[:200], f"{name}: not a number", key
                )
            if value < 0 and name != "LABST":  # SAP allows negative unrestricted stock only
                return Reject(seq, line, name, "negative_stock", text, f"{name} is negative", key)
            values.append(value)
        labst, insme, speme, retme, umlme = values
        lgort, unit = _get(row, columns, "LGORT"), _get(row, columns, "MEINS").upper()
        return SnapshotRow(seq, line, matnr, werks, lgort, labst, insme, speme, retme, umlme, unit)


# --- flat goods movements (WMMBXY as CSV) ---------------------------------------------------

MOVEMENT_HEADERS: dict[str, str] = {
    plain(n): n
    for n in (
        "MBLNR",
        "MJAHR",
        "ZEILE",
        "BWART",
        "MATNR",
        "WERKS",
        "LGORT",
        "SHKZG",
        "ERFMG",
        "ERFME",
        "MENGE",
        "MEINS",
        "BUDAT",
        "CPUDT",
        "CPUTM",
        "XBLNR",
    )
} | {"mblpo": "ZEILE"}


def movement_known_at(
    budat: str,
    cpudt: str | None,
    cputm: str | None,
    created: tuple[str, str] | None,
    tz: dt.tzinfo,
) -> dt.datetime:
    """When the ERP knew of a posting. Exact with the entry date/time (CPUDT/CPUTM); otherwise
    the IDoc's creation time, else the end of the posting day: a moment no earlier than the
    real posting, so a snapshot taken before it keeps the movement rather than losing it
    (the cost of the bound is a conservative double count until the next snapshot)."""
    if cputm and cputm.strip():
        return sap_datetime(cpudt or budat, cputm, tz)
    if created and created[0].strip():
        return sap_datetime(created[0], created[1] or "235959", tz)
    return sap_datetime(budat, None, tz, end_of_day=True)


def build_movement(
    seq: int,
    line: int,
    get: dict[str, str],
    decimal: str,
    tz: dt.tzinfo,
    created: tuple[str, str] | None = None,
) -> MovementRow | Reject:
    """One goods-movement item from its SAP fields (shared by the CSV and IDoc readers)."""
    document = normalize_matnr(get.get("MBLNR", ""))
    item_text = get.get("ZEILE", "")
    key = f"{document}/{get.get('MJAHR', '')}/{item_text.lstrip('0')}"
    for name in ("MBLNR", "MJAHR", "ZEILE", "BWART", "MATNR", "WERKS", "BUDAT"):
        if not get.get(name, "").strip():
            return Reject(seq, line, name, "missing_field", None, f"{name} is empty", key)
    try:
        year, item = int(get["MJAHR"]), int(get["ZEILE"])
    except ValueError:
        return Reject(seq, line, "ZEILE", "bad_number", item_text, "MJAHR/ZEILE not numeric", key)
    shkzg = get.get("SHKZG", "").strip().upper()
    quantity_text = get.get("ERFMG") or get.get("MENGE") or ""
    try:
        quantity = parse_quantity(quantity_text, decimal)
        base_text = get.get("MENGE", "")
        base = parse_quantity(base_text, decimal) if base_text.strip() else None
    except ValueError:
        return Reject(seq, line, "ERFMG", "bad_number", quantity_text[:200], "not a number", key)
    if quantity < 0:  # a signed export instead of SHKZG
        shkzg = shkzg or "H"
        quantity = -quantity
    if shkzg not in ("S", "H"):
        return Reject(seq, line, "SHKZG", "bad_value", shkzg, "SHKZG must be S or H", key)
    if quantity == 0:
        return Reject(seq, line, "ERFMG", "zero_quantity", quantity_text, "quantity is zero", key)
    try:
        known_at = movement_known_at(get["BUDAT"], get.get("CPUDT"), get.get("CPUTM"), created, tz)
    except ValueError as exc:
        return Reject(seq, line, "BUDAT", "bad_date", get["BUDAT"], str(exc), key)
    unit = (get.get("ERFME") or get.get("MEINS") or "").strip().upper()
    return MovementRow(
        seq=seq,
        line=line,
        document=document,
        year=year,
        item=item,
        bwart=get["BWART"].strip(),
        shkzg=shkzg,
        matnr=normalize_matnr(get["MATNR"]),
        werks=get["WERKS"].strip(),
        lgort=get.get("LGORT", "").strip(),
        quantity=quantity,
        unit=unit,
        base_quantity=abs(base) if base is not None else None,
        base_unit=(get.get("MEINS") or "").strip().upper() or None,
        known_at=known_at,
        reference=(get.get("XBLNR") or "").strip() or None,
    )


class MovementCsvReader:
    """The flat equivalent of WMMBXY: one ``;`` row per material-document item."""

    REQUIRED = frozenset({"MBLNR", "MJAHR", "ZEILE", "BWART", "MATNR", "WERKS", "BUDAT"})

    def __init__(self, path: Path, encoding: str, decimal: str, tz: dt.tzinfo) -> None:
        self.decimal, self.tz = decimal, tz
        self.file = _CsvFile(path, encoding)
        self.columns = self.file.find_header(MOVEMENT_HEADERS, set(self.REQUIRED))
        if not {"ERFMG", "MENGE"} & self.columns.keys():
            self.file.close()
            raise FileFormatError(f"{path.name}: no quantity column (ERFMG or MENGE)")

    def rows(self) -> Iterator[MovementRow | Reject]:
        seq = 0
        columns = list(self.columns.items())
        try:
            for line, row in self.file.rows():
                seq += 1
                width = len(row)  # inline _get: this loop runs once per field of every row
                get = {name: row[i].strip() if i < width else "" for name, i in columns}
                yield build_movement(seq, line, get, self.decimal, self.tz)
        finally:
            self.file.close()


# --- acknowledgements of write-backs ----------------------------------------------------------

ACK_HEADERS: dict[str, str] = {
    plain(n): n for n in ("WRITEBACK_ID", "MBLNR", "MJAHR", "BUDAT", "CPUTM", "STATUS", "MESSAGE")
} | {"sincro id": "WRITEBACK_ID", "arckey": "WRITEBACK_ID"}


class AckReader:
    """``WRITEBACK_ID;MBLNR;MJAHR;BUDAT;CPUTM;STATUS;MESSAGE``: one row per write-back the ERP
    posted (STATUS OK) or refused (STATUS ERROR, MESSAGE saying why)."""

    def __init__(self, path: Path, encoding: str, tz: dt.tzinfo) -> None:
        self.tz = tz
        self.file = _CsvFile(path, encoding)
        self.columns = self.file.find_header(ACK_HEADERS, {"WRITEBACK_ID", "BUDAT"})

    def rows(self) -> Iterator[AckRow | Reject]:
        seq = 0
        try:
            for line, row in self.file.rows():
                seq += 1
                get = {name: _get(row, self.columns, name) for name in self.columns}
                wb_id = get.get("WRITEBACK_ID", "")
                status = (get.get("STATUS") or "OK").upper()
                if not re.fullmatch(r"[0-9a-fA-F-]{36}", wb_id):
                    yield Reject(
                        seq,
                        line,
                        "WRITEBACK_ID",
                        "bad_value",
                        wb_id[:200],
                        "not a write-back id",
                        wb_id[:120],
                    )
                    continue
                if status == "OK" and not get.get("MBLNR"):
                    yield Reject(seq, line, "MBLNR", "missing_field", None, "MBLNR is empty", wb_id)
                    continue
                try:
                    posted = sap_datetime(get["BUDAT"], get.get("CPUTM"), self.tz, end_of_day=True)
                    year = int(get.get("MJAHR") or posted.year)
                except ValueError as exc:
                    yield Reject(seq, line, "BUDAT", "bad_date", get.get("BUDAT"), str(exc), wb_id)
                    continue
                yield AckRow(
                    seq,
                    line,
                    wb_id.lower(),
                    normalize_matnr(get.get("MBLNR", "")),
                    year,
                    posted,
                    status,
                    get.get("MESSAGE") or None,
                )
        finally:
            self.file.close()


# --- what a file is ------------------------------------------------------------------------

_NAME_KINDS = (
    (re.compile(r"(^|[_-])(ack|aleaud|status)([_.-]|$)", re.I), "ack"),
    (re.compile(r"^(mb52|mard|snap|estoque|stock)", re.I), "snapshot"),
    (re.compile(r"^(wmmbxy|mbxy|mov|wmmbid)", re.I), "movements"),
)


def _sniffed_text(raw: bytes) -> str:
    """UTF-8 when the bytes are UTF-8 (a character cut by the sniff's end excepted), else
    Latin-1: a pt-BR header reads right either way."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:
            return raw[: exc.start].decode("utf-8")
        return raw.decode("latin-1")


def detect_kind(path: Path) -> str:
    """snapshot | movements | ack | unknown, from the content first, then the name."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    text = _sniffed_text(head.lstrip(b"\xef\xbb\xbf")).lstrip()
    if text.startswith("<"):
        return "movements" if ("WMMBID" in text or "E1MBXY" in text) else "unknown"
    folded = plain(text.replace(";", " ; "))
    if "writeback id" in folded or "sincro id" in folded:
        return "ack"
    if " bwart " in f" {folded} " and (" mblnr " in f" {folded} "):
        return "movements"
    if " labst " in f" {folded} " or "utilizacao livre" in folded:
        return "snapshot"
    for pattern, kind in _NAME_KINDS:
        if pattern.search(path.name):
            return kind
    return "unknown"


# --- writers (write-back CSV, and the simulator's files) -------------------------------------


def write_rows(stream: IO[str], header: list[str], rows: list[list[str]]) -> None:
    writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
