"""Stock snapshots (MARD / MB52): what the ERP had at time T, applied without losing what the
ERP did not know yet.

The algorithm
=============

Every on-hand ledger row has ``erp_known_at``: the ERP's posting time for movements the ERP
sent; the posting time of the ERP's acknowledgement for movements Sincro originated (sales,
store counts...) once acknowledged; NULL while unacknowledged. A snapshot as of T therefore
contains exactly the on-hand movements with ``erp_known_at <= T``, and lacks the others.

For each SKU x location in the snapshot:

1. ``reported = LABST + INSME + SPEME + RETME`` (on-hand includes blocked stock; UMLME, stock
   in transfer between plants, is on no shelf: staged and reported, never put on hand).
2. ``pending = Σ quantity`` of the level's on-hand movements with ``erp_known_at IS NULL OR
   erp_known_at > T``, excluding earlier snapshot adjustments (reference ``snapshot:<id>``,
   which carry ``erp_known_at`` = their own T <= this T).
3. ``new_on_hand = max(0, reported + pending)``; ``drift = new_on_hand - on_hand`` is applied as
   one ``correction`` movement (reference ``snapshot:<file id>``, ``occurred_at`` and
   ``erp_known_at`` = T), so it is itself "known at T" and never replayed by a later snapshot.
   ``expected = on_hand - pending`` is what the ledger expected the ERP to say.
4. The blocked buckets are ERP-owned and set absolutely: ``blocked_quality = INSME``,
   ``blocked_stock = SPEME``, ``blocked_returns = RETME``, each change one ``correction`` row.
5. Only levels where something differs are updated (version + 1) and get an outbox event
   (cause ``snapshot``); unchanged levels are not written at all.

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
  into a temporary table (COPY on PostgreSQL, executemany on SQLite); rejects into another.
  Rows are summed per (product, location) only when some position has several rows.
- drift pass: one INSERT…SELECT joins every position with its stock level and with the
  aggregated pending movements (read once through the ``erp_known_at`` index) and keeps only
  the positions whose level differs (new positions with stock get an empty level first).
  Positions that agree are never locked nor written: a concurrent sale changes on-hand and
  pending by the same amount, so they stay in agreement; what could break the agreement
  (this source's movement and acknowledgement files) is serialised with the snapshot by the
  source lock, and acknowledgements received before a snapshot are applied before it.
- apply: the differing positions are applied in chunks of ``snapshot_chunk_rows`` file
  records, each chunk one transaction: lock their levels in (location, product) order,
  recompute them under the lock, one UPDATE…FROM…RETURNING, one INSERT…SELECT for the ledger
  rows, the events of the changed levels, the rejects of the records in the chunk, and
  ``erp_files.next_line`` (the last record covered) — all committed together. A crash resumes
  after ``next_line``: staging and the drift pass are redone from the file, and positions
  already applied no longer differ.
- report: a :class:`ReconciliationReport` from the snapshot's ledger rows and the staged
  totals; a ``large_drift`` alert past ``drift_alert_units``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.connectors.alerts import raise_alert
from sincro.connectors.models import ErpFile, FileState, ReconciliationReport
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import BUCKETS, Reject, SnapshotReader
from sincro.connectors.sap_files.mapping import Mapper, UnknownCode
from sincro.db import bulk_insert, sql, utcnow
from sincro.events import AvailabilityChange, record_events

Progress = Callable[[int, int], None]
STAGE_BATCH = 20_000
BITMAP_MAX_BITS = 1 << 31  # 256 MB
MAX_QUANTITY = 1_000_000_000  # per row, in base units (staged as 32-bit integers)
CACHED_NUMBER_MAX = 100_000  # quantities cached by their text are at most this
ENTITY = "stock_snapshot"

_STAGE_COLUMNS = (
    "first_seq",
    "product_id",
    "location_id",
    "labst",
    "insme",
    "speme",
    "retme",
    "umlme",
)
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


TEMP_TABLES = ("sap_stage", "sap_pos", "sap_drift", "sap_chunk", "sap_rejects", "sap_locations")


def _create_temp_tables(conn: Connection) -> None:
    for name in TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    buckets = "labst BIGINT, insme BIGINT, speme BIGINT, retme BIGINT, umlme BIGINT"
    # INTEGER quantities: SUM(integer) is a fast bigint sum on PostgreSQL, SUM(bigint) numeric
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE sap_stage (first_seq INTEGER, product_id INTEGER,"
            " location_id INTEGER, labst INTEGER, insme INTEGER, speme INTEGER, retme INTEGER,"
            " umlme INTEGER)"
        )
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE sap_drift (first_seq INTEGER, level_id INTEGER,"
            f" product_id INTEGER, location_id INTEGER, {buckets})"
        )
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE sap_chunk (level_id INTEGER, product_id INTEGER,"
            " location_id INTEGER, reported BIGINT, quality BIGINT, blocked BIGINT,"
            " returns BIGINT, transit BIGINT, cur_on_hand BIGINT, cur_quality BIGINT,"
            " cur_blocked BIGINT, cur_returns BIGINT, pending BIGINT, new_on_hand BIGINT)"
        )
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE sap_rejects (seq INTEGER, line INTEGER, field VARCHAR(60),"
            " rule VARCHAR(60), value VARCHAR(200), message TEXT, record_key VARCHAR(120))"
        )
    )


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
        if self.rows and self.pg:
            raw: Any = self.conn.connection.driver_connection
            columns = ", ".join(_STAGE_COLUMNS)
            with raw.cursor() as cur, cur.copy(f"COPY sap_stage ({columns}) FROM STDIN") as cp:
                cp.write("".join(self.rows))
        else:
            bulk_insert(self.conn, "sap_stage", _STAGE_COLUMNS, self.rows)
        self.rows = []

    def flush_rejects(self) -> None:
        bulk_insert(self.conn, "sap_rejects", _REJECT_COLUMNS, self.rejects)
        self.rejects = []


def stage(
    conn: Connection, cfg: SapFilesSource, reader: SnapshotReader, mapper: Mapper
) -> tuple[int, bool]:
    """Parse, map and load the whole file into the temporary tables; returns its record count
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
    conn.execute(text("CREATE INDEX ix_sap_rejects_seq ON sap_rejects (seq)"))
    return records, out.duplicates


def _reject_row(r: Reject) -> tuple[Any, ...]:
    return (r.seq, r.line, r.field, r.rule, (r.value or "")[:200] or None, r.message, r.key)


_PENDING_WHERE = (
    " WHERE (mv.erp_known_at IS NULL OR mv.erp_known_at > :t) AND mv.bucket = 'on_hand'"
    " AND (mv.reference IS NULL OR mv.reference NOT LIKE 'snapshot:%')"
)
_PENDING = f"SELECT SUM(mv.quantity) FROM movements mv {_PENDING_WHERE}"
_NEW_ON_HAND = (
    "CASE WHEN p.labst + p.insme + p.speme + p.retme + COALESCE(m.pending, 0) < 0 THEN 0"
    " ELSE p.labst + p.insme + p.speme + p.retme + COALESCE(m.pending, 0) END"
)
_DRIFT = (
    "WITH pend AS MATERIALIZED (SELECT mv.product_id, mv.location_id, SUM(mv.quantity)"
    f" AS pending FROM movements mv {_PENDING_WHERE} GROUP BY mv.product_id, mv.location_id)"
    " INSERT INTO sap_drift (first_seq, level_id, product_id, location_id, labst, insme, speme,"
    " retme, umlme) SELECT p.first_seq, s.id, p.product_id, p.location_id, p.labst,"
    " p.insme, p.speme, p.retme, p.umlme FROM sap_pos p LEFT JOIN stock_levels s"
    " ON s.product_id = p.product_id AND s.location_id = p.location_id"
    " LEFT JOIN pend m ON m.product_id = p.product_id AND m.location_id = p.location_id"
    " WHERE (s.id IS NULL AND p.labst + p.insme + p.speme + p.retme > 0)"
    f" OR {_NEW_ON_HAND} <> s.on_hand OR p.insme <> s.blocked_quality"
    " OR p.speme <> s.blocked_stock OR p.retme <> s.blocked_returns"
)


def prepare(conn: Connection, as_of: dt.datetime, duplicates: bool) -> int:
    """Make ``sap_pos`` (one row per product x location: the staged rows, summed only when
    the file has several rows for one position), then find in one pass the positions whose
    level differs from what the snapshot implies, creating the missing levels of positions
    with stock (empty, version 0, as ``inventory.repository.ensure_levels`` does).

    Only those positions are locked and written by :func:`apply_chunk`: a level that agrees
    stays in agreement under concurrent sales, because every Sincro change of on-hand that the
    ERP does not know is itself ``pending`` (the changes that are not — ERP files and
    acknowledgements of this source — are serialised with this file by the source lock).
    Returns the number of positions that differ."""
    if duplicates:
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE sap_pos AS SELECT MIN(first_seq) AS first_seq,"
                " product_id, location_id, SUM(labst) AS labst, SUM(insme) AS insme,"
                " SUM(speme) AS speme, SUM(retme) AS retme, SUM(umlme) AS umlme"
                " FROM sap_stage GROUP BY product_id, location_id"
            )
        )
        conn.execute(text("DROP TABLE sap_stage"))
    else:
        conn.execute(text("ALTER TABLE sap_stage RENAME TO sap_pos"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE sap_pos"))
    drift = _rowcount(conn.execute(sql(_DRIFT, "t"), {"t": as_of}))
    created = conn.execute(
        sql(
            "INSERT INTO stock_levels (product_id, location_id, on_hand, reserved,"
            " blocked_quality, blocked_stock, blocked_returns, safety_stock, version, as_of,"
            " updated_at) SELECT d.product_id, d.location_id, 0, 0, 0, 0, 0, 0, 0, :now, :now"
            " FROM sap_drift d WHERE d.level_id IS NULL ORDER BY d.location_id, d.product_id"
            " ON CONFLICT (product_id, location_id) DO NOTHING",
            "now",
        ),
        {"now": utcnow()},
    )
    if _rowcount(created):
        conn.execute(
            text(
                "UPDATE sap_drift SET level_id = (SELECT s.id FROM stock_levels s"
                " WHERE s.product_id = sap_drift.product_id"
                " AND s.location_id = sap_drift.location_id) WHERE level_id IS NULL"
            )
        )
    conn.execute(text("CREATE INDEX ix_sap_drift_seq ON sap_drift (first_seq)"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE sap_drift"))
    return drift


# --- one chunk ---------------------------------------------------------------------------------

_IN_CHUNK = "(SELECT level_id FROM sap_drift WHERE first_seq > :a AND first_seq <= :b)"
_LOCK = (
    f"SELECT s.id FROM stock_levels s WHERE s.id IN {_IN_CHUNK}"
    " ORDER BY s.location_id, s.product_id FOR UPDATE"
)
_COMPUTE = (
    "INSERT INTO sap_chunk (level_id, product_id, location_id, reported, quality, blocked,"
    " returns, transit, cur_on_hand, cur_quality, cur_blocked, cur_returns, pending, new_on_hand)"
    " SELECT x.*, CASE WHEN x.reported + x.pending < 0 THEN 0 ELSE x.reported + x.pending END"
    " FROM (SELECT s.id, p.product_id, p.location_id, p.labst + p.insme + p.speme + p.retme"
    " AS reported, p.insme, p.speme, p.retme, p.umlme, s.on_hand, s.blocked_quality,"
    " s.blocked_stock, s.blocked_returns,"
    f" COALESCE(({_PENDING} AND mv.product_id = p.product_id AND mv.location_id = p.location_id),"
    " 0) AS pending FROM sap_drift p JOIN stock_levels s ON s.id = p.level_id"
    " WHERE p.first_seq > :a AND p.first_seq <= :b) x"
)
_CHANGED = (
    "new_on_hand <> cur_on_hand OR quality <> cur_quality OR blocked <> cur_blocked"
    " OR returns <> cur_returns"
)
_UPDATE = (
    "UPDATE stock_levels SET on_hand = stock_levels.on_hand + (c.new_on_hand - c.cur_on_hand),"
    " blocked_quality = c.quality, blocked_stock = c.blocked, blocked_returns = c.returns,"
    " version = stock_levels.version + 1, as_of = :now, updated_at = :now"
    f" FROM sap_chunk c WHERE stock_levels.id = c.level_id AND ({_CHANGED})"
    " RETURNING stock_levels.product_id, stock_levels.location_id, stock_levels.on_hand,"
    " stock_levels.reserved, stock_levels.blocked_quality + stock_levels.blocked_stock"
    " + stock_levels.blocked_returns, stock_levels.safety_stock, stock_levels.version"
)
_LEDGER = " UNION ALL ".join(
    f"SELECT product_id, location_id, '{b}', {n} - {c}, 'correction', :src, NULL, :ref,"
    f" :t, :now, :t FROM sap_chunk WHERE {n} <> {c}"
    for b, n, c in (
        ("on_hand", "new_on_hand", "cur_on_hand"),
        ("blocked_quality", "quality", "cur_quality"),
        ("blocked_stock", "blocked", "cur_blocked"),
        ("blocked_returns", "returns", "cur_returns"),
    )
)
_INSERT_LEDGER = (
    "INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,"
    f" idempotency_key, reference, occurred_at, recorded_at, erp_known_at) {_LEDGER}"
)
_INSERT_REJECTS = (
    "INSERT INTO sync_rejects (source, entity, run_id, file_id, line, record_key, field, rule,"
    " value, message, created_at) SELECT :src, :entity, :run, :file, line, record_key, field,"
    " rule, value, message, :now FROM sap_rejects WHERE seq > :a AND seq <= :b"
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
    """Apply the differing positions whose first record is in (a, b]: lock their levels in
    (location, product) order, recompute them under the lock, write the changes, the ledger
    rows, the events and the rejects of the range. Returns (changed levels, rejects). The
    caller commits, together with ``next_line = b``."""
    now, ref = utcnow(), f"snapshot:{file_id}"
    span = {"a": a, "b": b}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_LOCK), span)
    session.execute(text("DELETE FROM sap_chunk"))
    session.execute(sql(_COMPUTE, "t"), {**span, "t": as_of})
    changed = session.execute(sql(_UPDATE, "now"), {"now": now}).all()
    if changed:
        session.execute(
            sql(_INSERT_LEDGER, "t", "now"),
            {"src": cfg.movement_source, "ref": ref, "t": as_of, "now": now},
        )
        _record_events(session, changed, ref)
    rejects = _rowcount(
        session.execute(
            sql(_INSERT_REJECTS, "now"),
            {**span, "src": cfg.code, "entity": ENTITY, "run": run_id, "file": file_id, "now": now},
        )
    )
    return len(changed), rejects


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _record_events(session: Session, rows: Sequence[Any], ref: str) -> None:
    product_ids = {r[0] for r in rows}
    skus = _skus(session, product_ids)
    places = catalog.directory(session)
    changes = []
    for product_id, location_id, on_hand, reserved, blocked, safety, version in rows:
        place = (
            places.by_id.get(location_id)
            or catalog.directory(session, need_id=location_id).by_id[location_id]
        )
        changes.append(
            AvailabilityChange(
                sku=skus[product_id],
                location=place.code,
                available=max(0, on_hand - reserved - blocked - safety),
                on_hand=on_hand,
                reserved=reserved,
                version=version,
                cause="snapshot",
                reference=ref,
            )
        )
    record_events(session, changes)


# --- report ------------------------------------------------------------------------------------


def report(
    session: Session, cfg: SapFilesSource, file_id: int, as_of: dt.datetime
) -> ReconciliationReport:
    """The snapshot's reconciliation report, from its ledger rows and the staged positions."""
    ref = f"snapshot:{file_id}"
    positions, reported = session.execute(
        text("SELECT COUNT(*), COALESCE(SUM(labst + insme + speme + retme), 0) FROM sap_pos")
    ).one()
    drifted, drift_abs, drift_sum = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(ABS(quantity)), 0), COALESCE(SUM(quantity), 0)"
            " FROM movements WHERE reference = :ref AND bucket = 'on_hand' AND source = :src"
        ),
        {"ref": ref, "src": cfg.movement_source},
    ).one()
    top = session.execute(
        text(
            "SELECT m.product_id, m.location_id, m.quantity,"
            " p.labst + p.insme + p.speme + p.retme FROM movements m"
            " JOIN sap_drift p ON p.product_id = m.product_id AND p.location_id = m.location_id"
            " WHERE m.reference = :ref AND m.bucket = 'on_hand' AND m.source = :src"
            " ORDER BY ABS(m.quantity) DESC, m.id LIMIT 20"
        ),
        {"ref": ref, "src": cfg.movement_source},
    ).all()
    skus = _skus(session, {r[0] for r in top})
    places = catalog.directory(session)
    largest = [
        {
            "sku": skus.get(pid, str(pid)),
            "location": _code(places, lid),
            "expected": int(rep) - int(qty),
            "reported": int(rep),
            "drift": int(qty),
        }
        for pid, lid, qty, rep in top
    ]
    exceeded = int(drift_abs) > cfg.drift_alert_units
    row = ReconciliationReport(
        source=cfg.code,
        file_id=file_id,
        as_of=as_of,
        positions=int(positions),
        positions_with_drift=int(drifted),
        units_expected=int(reported) - int(drift_sum),
        units_reported=int(reported),
        units_drift_abs=int(drift_abs),
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
            f"Snapshot {as_of:%d/%m/%Y %H:%M} de {cfg.name}: {int(drift_abs)} unidades de"
            f" divergência em {int(drifted)} posições (limite {cfg.drift_alert_units})",
            source=cfg.code,
            severity="warning",
            details={"report_id": row.id, "file_id": file_id, "largest": largest[:5]},
        )
    return row


def missing_positions(session: Session, cfg: SapFilesSource, file_id: int) -> int:
    """Levels with stock at the snapshot's locations that the snapshot did not mention: left
    untouched, reported in an ``info`` alert with a sample of 20."""
    session.execute(text("DROP TABLE IF EXISTS sap_locations"))
    session.execute(
        text("CREATE TEMPORARY TABLE sap_locations AS SELECT DISTINCT location_id FROM sap_pos")
    )
    stocked, units = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(s.on_hand), 0) FROM stock_levels s"
            " WHERE s.on_hand > 0 AND s.location_id IN (SELECT location_id FROM sap_locations)"
        )
    ).one()
    listed, listed_units = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(s.on_hand), 0) FROM sap_pos p JOIN stock_levels s"
            " ON s.product_id = p.product_id AND s.location_id = p.location_id"
            " WHERE s.on_hand > 0"
        )
    ).one()
    count, units = int(stocked) - int(listed), int(units) - int(listed_units)
    if count <= 0:
        return 0
    sample = session.execute(
        text(
            "SELECT s.product_id, s.location_id, s.on_hand FROM stock_levels s"
            " JOIN sap_locations l ON l.location_id = s.location_id WHERE s.on_hand > 0"
            " AND NOT EXISTS (SELECT 1 FROM sap_pos p WHERE p.product_id = s.product_id"
            " AND p.location_id = s.location_id) LIMIT 20"
        )
    ).all()
    places = catalog.directory(session)
    skus = _skus(session, {r[0] for r in sample})
    raise_alert(
        session,
        "snapshot_missing_positions",
        f"{count} posições com estoque não constam do snapshot (mantidas como estão)",
        source=cfg.code,
        severity="info",
        details={
            "file_id": file_id,
            "count": count,
            "units": units,
            "sample": [
                {"sku": skus.get(p), "location": _code(places, loc), "on_hand": int(q)}
                for p, loc, q in sample
            ],
        },
    )
    return count


def _skus(session: Session, product_ids: set[int]) -> dict[int, str]:
    return catalog.skus_by_id(session, product_ids)


def _code(places: catalog.LocationDirectory, location_id: int) -> str:
    place = places.by_id.get(location_id)
    return place.code if place else str(location_id)
