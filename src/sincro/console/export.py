"""CSV downloads from console pages, in the two forms the house uses.

- For people (``excel``, the default): what Excel in pt-BR opens as is: ``;`` between cells,
  decimal comma, a UTF-8 byte-order mark, dates ``dd/mm/aaaa HH:MM`` in local time, Sim/Não.
  Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) are
  prefixed with ``'`` so an exported value can never execute (CSV injection).
- For machines (``plain``): ``,``, dot decimals, ISO 8601 UTC timestamps, true/false, no BOM.

Rows are streamed, so a large export does not build the whole file in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.responses import StreamingResponse

from sincro import text_pt
from sincro.text_pt import SAO_PAULO

CsvForm = Literal["excel", "plain"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
ROWS_PER_CHUNK = 500


def person_cell(value: Any, zone: ZoneInfo = SAO_PAULO) -> str:
    """A cell for pt-BR Excel."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return format(value, "f").rstrip("0").rstrip(".").replace(".", ",") or "0"
    if isinstance(value, dt.datetime):
        return text_pt.datetime_br(value, zone)
    if isinstance(value, dt.date):
        return text_pt.date_br(value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def machine_cell(value: Any) -> str:
    """A cell for programs: ISO dates in UTC, dot decimals, true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return text_pt.local_time(value, "UTC").isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_lines(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    form: CsvForm = "excel",
    zone: ZoneInfo = SAO_PAULO,
) -> Iterator[str]:
    """The file, in chunks of text (times for people in ``zone``; for machines in UTC)."""
    buffer = io.StringIO()
    people = form == "excel"
    writer = csv.writer(buffer, delimiter=";" if people else ",", lineterminator="\r\n")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([person_cell(v, zone) if people else machine_cell(v) for v in row])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    form: CsvForm = "excel",
    zone: ZoneInfo = SAO_PAULO,
) -> StreamingResponse:
    """A download of ``rows`` as ``filename`` (``.csv`` added), in the form asked for; times
    for people in ``zone`` (the location's, when the file is about one)."""
    chunks = csv_lines(header, rows, form, zone)
    body = _with_bom(chunks) if form == "excel" else chunks
    name = filename if filename.endswith(".csv") else f"{filename}.csv"
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def _with_bom(chunks: Iterator[str]) -> Iterator[str]:
    yield BOM
    yield from chunks


def parse_form(value: str) -> CsvForm:
    """``?formato=`` of an export link: ``planilha`` (default) or ``dados`` for machines."""
    return "plain" if value in ("dados", "plain") else "excel"
