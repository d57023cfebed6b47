"""Stock snapshots (MARD / MB52): what SAP had at time T, applied without losing what SAP did
not know yet.

The rule and the set-based statements on the stock tables are inventory's
(:mod:`sincro.inventory.snapshots`: pending movements, drift pass, chunked apply); this module
reads and maps the file, stages its rows, serialises the file with the source's other files and
writes the reconciliation report. SAP's columns map onto inventory's positions: LABST =
unrestricted, INSME = quality (``blocked_quality``), SPEME = blocked (``blocked_stock``), RETME =
returns (``blocked_returns``), UMLME = transit (staged and reported, never put on hand).

Consequences, each covered by a test: a sale committed in Sincro after T (unacknowledged, NULL)
survives; a sale acknowledged with posting time <= T is in ``reported`` and not counted again;
an ERP movement posted after T, already applied, survives; re-applying a position is a no-op
(``new_on_hand`` already equals ``on_hand``), which makes chunks idempotent by construction.

Positions the snapshot does not mention are left untouched (a MARD extract may be filtered by
plant or material; absence is not zero) and counted, with a sample, in an ``info`` alert
``snapshot_missing_positions``. A snapshot older than one already applied for the source is
not applied (state ``superseded``). Rows of one position spread over several storage locations
that map to the same location are summed.

Execution (set-based; one dedicated connection per file, one file of a source at a time):

- stage: the file is parsed as a stream, mapped (MATNR, WERKS/LGORT, units; a row whose cells
  were all seen before in a valid row is resolved from caches keyed by the raw text) and loaded
  into inventory's staging table (COPY on PostgreSQL, executemany on SQLite); rejects into a
  table of this module. Rows are summed per (product, location) only when some position has
  several rows.
- drift pass (:func:`sincro.inventory.snapshots.prepare`): only the positions whose level
  differs are kept. Positions that agree stay in agreement under concurrent sales; what could
  break the agreement (this source's movement and acknowledgement files) is serialised with the
  snapshot by the source lock, and acknowledgements received before a snapshot are applied
  before it.
- apply: the differing positions are applied in chunks of ``snapshot_chunk_rows`` file
  records, each chunk one transaction: inventory's chunk (locks, recompute, update, ledger,
  events), the rejects of the records in the chunk, and ``erp_files.next_line`` (the last
  record covered) — all committed together. A crash resumes after ``next_line``: staging and
  the drift pass are redone from the file, and positions already applied no longer differ.
- report: a :class:`ReconciliationReport` from the snapshot's ledger rows and the staged
  totals; a ``large_drift`` alert past ``drift_alert_units``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.models import ErpFile, FileState, ReconciliationReport
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import BUCKETS, Reject, SnapshotReader
from sincro.connectors.sap_files.mapping import Mapper, UnknownCode
from sincro.db import bulk_insert, sql, utcnow
from sincro.inventory import snapshots

Progress = Callable[[int, int], None]
STAGE_BATCH = 20_000
BITMAP_MAX_BITS = 1 << 31  # 256 MB
MAX_QUANTITY = 1_000_000_000  # per row, in base units (staged as 32-bit integers)
CACHED_NUMBER_MAX = 100_000  # quantities cached by their text are at most this
ENTITY = "stock_snapshot"

_REJECT_COLUMNS = ("seq", "line", "field", "rule", "value", "message", "record_key")


@dataclass
class SnapshotResult:
    as_of: dt.datetime
    superseded: bool = False
    records: int = 0
    differing: int = 0  # positions whose level differed when the file was staged
    changed_levels: int = 0
    rejected: int = 0
    report_id: int | None = None
    missing_positions: int = 0
    negative_positions: int = 0  # unrestricted below zero in SAP, taken as 0
    details: dict[str, Any] = field(default_factory=dict)


def open_reader(cfg: SapFilesSource, path: Path) -> SnapshotReader:
    return SnapshotReader(path, cfg.encoding, cfg.decimal_separator, cfg.tz)


def newer_applied(session: Session, cfg: SapFilesSource, as_of: dt.datetime) -> ErpFile | None:
    return session.scalar(
        select(ErpFile)
        .where(
            ErpFile.source == cfg.code,
            ErpFile.kind == "snapshot",
            ErpFile.state == FileState.done.value,
            ErpFile.as_of > as_of,
        )
        .limit(1)
    )


# --- staging -----------------------------------------------------------------------------------


REJECTS = "sap_rejects"


def create_tables(conn: Connection) -> None:
    """The snapshot's temporary tables: inventory's (positions) and this module's (rejects)."""
    snapshots.create_tables(conn)
    conn.execute(text(f"DROP TABLE IF EXISTS {REJECTS}"))
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE {REJECTS} (seq INTEGER, line INTEGER, field VARCHAR(60),"
            " rule VARCHAR(60), value VARCHAR(200), message TEXT, record_key VARCHAR(120))"
        )
    )


def drop_tables(conn: Connection) -> None:
    snapshots.drop_tables(conn)
    conn.execute(text(f"DROP TABLE IF EXISTS {REJECTS}"))


class _Stager:
    """Buffers staged rows and rejects and writes them in batches."""

    def __init__(self, conn: Connection, max_product: int, max_location: int) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.rows: list[Any] = []
        self.rejects: list[tuple[Any, ...]] = []
        # Seen positions, to know whether rows must be summed: a bitmap over the id ranges
        # (1,000 products x 1,810 locations = 226 KB), or a set when the ranges are huge.
        self.stride = max_location + 1
        bits = (max_product + 1) * self.stride
        self.bitmap = bytearray(bits // 8 + 1) if bits <= BITMAP_MAX_BITS else None
        self.seen: set[int] = set()
        self.duplicates = False

    def row(self, seq: int, product_id: int, location_id: int, values: list[int]) -> None:
        key = product_id * self.stride + location_id
        if self.bitmap is not None:
            byte, bit = key >> 3, 1 << (key & 7)
            if self.bitmap[byte] & bit:
                self.duplicates = True
            self.bitmap[byte] |= bit
        elif not self.duplicates:
            if key in self.seen:
                self.duplicates = True
            self.seen.add(key)
        if self.pg:  # COPY text, assembled by hand: much faster than adapting values
            a, b, c, d, e = values
            self.rows.append(f"{seq}\t{product_id}\t{location_id}\t{a}\t{b}\t{c}\t{d}\t{e}\n")
        else:
            self.rows.append((seq, product_id, location_id, *values))
        if len(self.rows) >= STAGE_BATCH:
            self.flush_rows()

    def reject(self, row: tuple[Any, ...]) -> None:
        self.rejects.append(row)
        if len(self.rejects) >= STAGE_BATCH:
            self.flush_rejects()

    def flush_rows(self) -> None:
        snapshots.stage_rows(self.conn, self.rows)
        self.rows = []

    def flush_rejects(self) -> None:
        bulk_insert(self.conn, REJECTS, _REJECT_COLUMNS, self.rejects)
        self.rejects = []


def stage(
    conn: Connection, cfg: SapFilesSource, reader: SnapshotReader, mapper: Mapper
) -> tuple[int, bool]:
    """Parse, map and stage the whole file (:func:`sincro.inventory.snapshots.stage_rows`, in
    the order of ``snapshots.POSITION_COLUMNS``: LABST, INSME, SPEME, RETME, UMLME after the
    ids) and its rejects; returns its record count
    and whether some position has several rows.

    The hot loop resolves a row from caches keyed by the raw cell texts (material, plant +
    storage, unit, quantity): a row whose every cell was seen before in a valid row costs a
    handful of dictionary look-ups. Any other row takes the full path (:meth:`SnapshotReader.
    parse` and the mapper), which decides rejects and fills the caches."""
    out = _Stager(
        conn, max(mapper.products.values(), default=0), max(mapper.locations.values(), default=0)
    )
    cols = reader.columns
    i_matnr, i_werks = cols["MATNR"], cols["WERKS"]
    i_lgort, i_unit = cols.get("LGORT", -1), cols.get("MEINS", -1)
    i_values = [cols.get(name, -1) for name in BUCKETS]
    width = 1 + max(i_matnr, i_werks, i_lgort, i_unit, *i_values)
    products: dict[str, int] = {}
    places: dict[tuple[str, str], int] = {}
    factors: dict[str, int] = {}
    numbers: dict[str, int] = {}
    records = 0
    pg, lines, stride = out.pg, out.rows, out.stride
    bitmap = out.bitmap
    for seq, line, row in reader.raw():
        records = seq
        if len(row) >= width:
            try:
                product_id = products[row[i_matnr]]
                location_id = places[(row[i_werks], row[i_lgort] if i_lgort >= 0 else "")]
                f = factors[row[i_unit] if i_unit >= 0 else ""]
                a, b, c, d, e = [numbers[row[i]] * f if i >= 0 else 0 for i in i_values]
            except KeyError:
                pass
            else:  # the hot path, inlined: mark the position, buffer the row
                key = product_id * stride + location_id
                if bitmap is not None:
                    bit = 1 << (key & 7)
                    if bitmap[key >> 3] & bit:
                        out.duplicates = True
                    bitmap[key >> 3] |= bit
                    if pg:
                        lines.append(
                            f"{seq}\t{product_id}\t{location_id}\t{a}\t{b}\t{c}\t{d}\t{e}\n"
                        )
                    else:
                        lines.append((seq, product_id, location_id, a, b, c, d, e))
                    if len(lines) >= STAGE_BATCH:
                        out.flush_rows()
                        lines = out.rows
                    continue
                out.row(seq, product_id, location_id, [a, b, c, d, e])
                lines = out.rows
                continue
        item = reader.parse(seq, line, row)
        if isinstance(item, Reject):
            out.reject(_reject_row(item))
            continue
        try:
            product_id = mapper.product(item.matnr)
            location_id = mapper.location(item.werks, item.lgort)
            f = mapper.factor(item.unit)
            raw = [item.labst, item.insme, item.speme, item.retme, item.umlme]
            if any((v * f) != (v * f).to_integral_value() for v in raw):
                raise UnknownCode(
                    "MEINS", "fractional_quantity", item.unit, "not a whole number of base units"
                )
            if any(v * f > MAX_QUANTITY for v in raw):
                raise UnknownCode("LABST", "quantity_too_large", str(max(raw)), "above 10^9")
        except UnknownCode as exc:
            where = f"{item.matnr}@{item.werks}/{item.lgort}"
            out.reject((seq, line, exc.field, exc.rule, exc.value[:200], exc.message, where))
            continue
        out.row(seq, product_id, location_id, [int(v * f) for v in raw])
        lines = out.rows
        if len(row) >= width:
            products[row[i_matnr]] = product_id
            places[(row[i_werks], row[i_lgort] if i_lgort >= 0 else "")] = location_id
            factors[row[i_unit] if i_unit >= 0 else ""] = f
            if len(numbers) < 100_000:
                for i, v in zip(i_values, raw, strict=True):
                    if i >= 0 and v == v.to_integral_value() and v <= CACHED_NUMBER_MAX:
                        numbers[row[i]] = int(v)
    out.flush_rows()
    out.flush_rejects()
    conn.execute(text(f"CREATE INDEX ix_sap_rejects_seq ON {REJECTS} (seq)"))
    return records, out.duplicates


def _reject_row(r: Reject) -> tuple[Any, ...]:
    return (r.seq, r.line, r.field, r.rule, (r.value or "")[:200] or None, r.message, r.key)


_INSERT_REJECTS = (
    "INSERT INTO sync_rejects (source, entity, run_id, file_id, line, record_key, field, rule,"
    " value, message, created_at) SELECT :src, :entity, :run, :file, line, record_key, field,"
    f" rule, value, message, :now FROM {REJECTS} WHERE seq > :a AND seq <= :b"
)


def apply_chunk(
    session: Session,
    cfg: SapFilesSource,
    file_id: int,
    run_id: int | None,
    as_of: dt.datetime,
    a: int,
    b: int,
) -> tuple[int, int]:
    """Apply the differing positions whose first record is in (a, b]
    (:func:`sincro.inventory.snapshots.apply_chunk`) and record the rejects of the range.
    Returns (changed levels, rejects). The caller commits, together with ``next_line = b``."""
    changed = snapshots.apply_chunk(session, cfg.movement_source, file_id, as_of, a, b)
    rejects = session.execute(
        sql(_INSERT_REJECTS, "now"),
        {
            "a": a,
            "b": b,
            "src": cfg.code,
            "entity": ENTITY,
            "run": run_id,
            "file": file_id,
            "now": utcnow(),
        },
    )
    return changed, int(rejects.rowcount)  # type: ignore[attr-defined]


# --- report ------------------------------------------------------------------------------------


def report(
    session: Session, cfg: SapFilesSource, file_id: int, as_of: dt.datetime
) -> ReconciliationReport:
    """The snapshot's reconciliation report, from its ledger rows and the staged positions."""
    positions, reported = snapshots.position_totals(session)
    drift = snapshots.drift_summary(session, cfg.movement_source, file_id)
    largest = [
        {
            "sku": d.sku,
            "location": d.location,
            "expected": d.expected,
            "reported": d.reported,
            "drift": d.drift,
            **({"counted": d.counted} if d.counted != d.reported else {}),
        }
        for d in drift.largest
    ]
    exceeded = drift.units_abs > cfg.drift_alert_units
    row = ReconciliationReport(
        source=cfg.code,
        file_id=file_id,
        as_of=as_of,
        positions=positions,
        positions_with_drift=drift.positions,
        units_expected=reported - drift.units_sum,
        units_reported=reported,
        units_drift_abs=drift.units_abs,
        largest=largest,
        threshold_exceeded=exceeded,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    if exceeded:  # one alert per snapshot: each is its own occurrence
        raise_alert(
            session,
            "large_drift",
            f"Snapshot {as_of:%d/%m/%Y %H:%M} de {cfg.name}: {drift.units_abs} unidades de"
            f" divergência em {drift.positions} posições (limite {cfg.drift_alert_units})",
            source=cfg.code,
            severity="warning",
            details={"report_id": row.id, "file_id": file_id, "largest": largest[:5]},
        )
    return row


def missing_positions(session: Session, cfg: SapFilesSource, file_id: int) -> int:
    """Levels with stock at the snapshot's locations that the snapshot did not mention: left
    untouched, reported in an ``info`` alert with a sample of 20."""
    missing = snapshots.missing_positions(session)
    if missing.count <= 0:
        return 0
    raise_alert(
        session,
        "snapshot_missing_positions",
        f"{missing.count} posições com estoque não constam do snapshot (mantidas como estão)",
        source=cfg.code,
        severity="info",
        details=_sample_details(file_id, missing, "on_hand"),
    )
    return missing.count


def _sample_details(
    file_id: int, positions: snapshots.PositionSample, units: str
) -> dict[str, Any]:
    """An alert's details: the file, how many positions and units, and the sample."""
    return {
        "file_id": file_id,
        "count": positions.count,
        "units": positions.units,
        "sample": [
            {"sku": sku, "location": code, units: quantity}
            for sku, code, quantity in positions.sample
        ],
    }


def negative_stock(session: Session, cfg: SapFilesSource, file_id: int) -> int:
    """Positions whose unrestricted stock SAP reports below zero: taken as zero sellable by
    the drift pass, reported here in a ``negative_stock`` warning (one open per source, resolved
    by a snapshot without any). Returns how many."""
    negative = snapshots.negative_positions(session)
    key = f"negative_stock:{cfg.code}"
    if negative.count <= 0:
        resolve_alerts(session, key)
        return 0
    raise_alert(
        session,
        "negative_stock",
        f"{negative.count} posições com estoque livre negativo no SAP ({negative.units}"
        " unidades); tratadas como zero disponível",
        source=cfg.code,
        severity="warning",
        details=_sample_details(file_id, negative, "unrestricted"),
        dedupe_key=key,
    )
    return negative.count
