"""Absolute stock positions as of a time T (an ERP's stock snapshot), applied set-based without
losing what the ERP did not know yet at T.

The rule: movements the ERP did not know at T
=============================================

Every on-hand ledger row has ``erp_known_at``: the ERP's posting time for movements the ERP
sent; the posting time of the ERP's acknowledgement for movements Sincro originated (sales,
store counts...) once acknowledged; NULL while unacknowledged. A statement of the ERP as of T
therefore contains exactly the on-hand movements with ``erp_known_at <= T`` and lacks the
others: ``pending`` = Σ quantity of a level's on-hand movements with ``erp_known_at IS NULL OR
erp_known_at > T``, excluding the corrections earlier snapshots made (reference
``snapshot:<id>``, which carry ``erp_known_at`` = their own T). :data:`UNKNOWN_TO_ERP` is that
rule, once; :func:`on_hand_unknown_to_erp` and :func:`balance_corrections` (a REST page of
balances) and the snapshot statements below all use it.

A position as of T
==================

Per product x location the ERP reports ``unrestricted`` stock and three blocked quantities
(``quality``, ``blocked``, ``returns``; ``transit``, stock between plants, is on no shelf: it is
staged and reported, never put on hand). Then:

1. ``reported = unrestricted + quality + blocked + returns`` (on-hand includes blocked stock);
2. ``new_on_hand = max(0, reported + pending)``, with a negative ``unrestricted`` (SAP allows
   it at stores) counted as 0: none of it is sellable, and the report keeps the ERP's figure;
   ``drift = new_on_hand - on_hand`` is applied as one ``correction`` movement (reference
   ``snapshot:<id>``, ``occurred_at`` and ``erp_known_at`` = T), so it is itself "known at T"
   and never replayed by a later snapshot;
3. the blocked buckets are ERP-owned and set absolutely, each change one ``correction`` row;
4. only levels where something differs are updated (version + 1) and get an outbox event
   (cause ``snapshot``); unchanged levels are not written at all.

Execution (the caller owns the connection and every transaction):

- :func:`create_tables`, then the caller streams its positions into :data:`STAGE`
  (:func:`stage_rows`: COPY on PostgreSQL, executemany on SQLite);
- :func:`prepare` sums the staged rows per position when needed and finds, in one INSERT…SELECT
  reading the pending movements once through the ``erp_known_at`` index, the positions whose
  level differs (creating empty levels for new positions with stock). Positions that agree are
  never locked nor written: a concurrent sale changes on-hand and pending by the same amount;
- :func:`apply_chunk` applies the differing positions whose first record is in a range: lock in
  (location, product) order, recompute under the lock, one UPDATE…FROM…RETURNING, one
  INSERT…SELECT for the ledger rows, the events of the changed levels;
- :func:`drift_summary`, :func:`position_totals` and :func:`missing_positions` give what a
  reconciliation report needs; :func:`drop_tables` cleans up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import bulk_insert, ids_param, sql, utcnow
from sincro.events import AvailabilityChange, record_events
from sincro.inventory import repository as repo
from sincro.inventory.bulk import ErpLine
from sincro.inventory.models import Bucket, Reason

REFERENCE_PREFIX = "snapshot:"
STAGE = "snap_stage"
POSITION_COLUMNS = (
    "first_seq",  # the first record of the position in the caller's file (chunks go by it)
    "product_id",
    "location_id",
    "unrestricted",
    "quality",
    "blocked",
    "returns",
    "transit",
)
TABLES = (STAGE, "snap_pos", "snap_drift", "snap_chunk", "snap_locations")

# The one rule (see the module docstring); ``mv`` is the movements alias, ``:t`` the time T.
UNKNOWN_TO_ERP = (
    "(mv.erp_known_at IS NULL OR mv.erp_known_at > :t) AND mv.bucket = 'on_hand'"
    f" AND (mv.reference IS NULL OR mv.reference NOT LIKE '{REFERENCE_PREFIX}%')"
)


def reference(snapshot_id: int) -> str:
    """The ledger reference of the corrections one snapshot makes."""
    return f"{REFERENCE_PREFIX}{snapshot_id}"


# --- the rule, for callers outside a snapshot ---------------------------------------------------

_UNKNOWN_AT = (
    "SELECT mv.product_id, mv.location_id, SUM(mv.quantity) FROM movements mv"
    f" WHERE {UNKNOWN_TO_ERP} AND mv.location_id {{locations}}{{products}}"
    " GROUP BY mv.product_id, mv.location_id"
)


def on_hand_unknown_to_erp(
    session: Session,
    as_of: dt.datetime,
    location_ids: Sequence[int],
    product_ids: Sequence[int] | None = None,
) -> dict[tuple[int, int], int]:
    """Per (product_id, location_id), the on-hand change the ERP did not know at ``as_of``
    (levels without any are absent), at these locations (and these products)."""
    if not location_ids or (product_ids is not None and not product_ids):
        return {}
    params: dict[str, Any] = {"t": as_of, "locations": list(location_ids)}
    in_locations, locations_param = ids_param(session, "locations")
    binds = [locations_param]
    products = ""
    if product_ids is not None:
        in_products, products_param = ids_param(session, "products")
        products = f" AND mv.product_id {in_products}"
        binds.append(products_param)
        params["products"] = list(product_ids)
    statement = sql(_UNKNOWN_AT.format(locations=in_locations, products=products), "t")
    rows = session.execute(statement.bindparams(*binds), params)
    return {(p, loc): int(q) for p, loc, q in rows}


# The same correction as balance_corrections's loop, for a page at once on PostgreSQL: the
# page travels as three integer arrays (text literals, assembled in C by str.join), the levels
# and the pending movements are read through their indexes, and only the levels that differ
# come back, in (location, product) order.
_BALANCE_DELTAS = (
    "WITH t AS (SELECT * FROM unnest(CAST(:products AS int[]), CAST(:locations AS int[]),"
    " CAST(:balances AS bigint[])) AS t(product_id, location_id, balance)),"
    " s AS (SELECT product_id, location_id, on_hand FROM stock_levels"
    " WHERE location_id = ANY(CAST(:location_set AS int[]))"
    " AND product_id = ANY(CAST(:product_set AS int[]))),"
    " p AS (SELECT mv.product_id, mv.location_id, SUM(mv.quantity) AS quantity FROM movements mv"
    f" WHERE {UNKNOWN_TO_ERP} AND mv.location_id = ANY(CAST(:location_set AS int[]))"
    " AND mv.product_id = ANY(CAST(:product_set AS int[]))"
    " GROUP BY mv.product_id, mv.location_id),"
    " d AS (SELECT t.product_id, t.location_id, GREATEST(0, GREATEST(0, t.balance)"
    " + COALESCE(p.quantity, 0)) - COALESCE(s.on_hand, 0) AS delta FROM t"
    " LEFT JOIN s ON s.product_id = t.product_id AND s.location_id = t.location_id"
    " LEFT JOIN p ON p.product_id = t.product_id AND p.location_id = t.location_id)"
    " SELECT product_id, location_id, delta FROM d WHERE delta <> 0"
    " ORDER BY location_id, product_id"
)


def _int_array(values: Any) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def balance_corrections(
    session: Session,
    balances: dict[tuple[int, int], int],
    as_of: dt.datetime,
    reference: str,
) -> list[ErpLine]:
    """ERP on-hand balances as of ``as_of`` per (product_id, location_id), turned into the
    ERP-known correction of each level that differs: ``max(0, balance + what the ERP did not
    know at as_of) - on_hand`` (a negative balance taken as 0), in (location, product) order, for
    :func:`sincro.inventory.bulk.apply_erp_lines`. On PostgreSQL in one statement
    (:data:`_BALANCE_DELTAS`): a page of 5,000 balances where a few differ brings back those
    few rather than 5,000 levels."""
    if not balances:
        return []
    product_column, location_column = zip(*balances, strict=True)  # in C, not a loop
    products = sorted(set(product_column))
    locations = sorted(set(location_column))
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "products": _int_array(product_column),
            "locations": _int_array(location_column),
            "balances": _int_array(balances.values()),
            "product_set": _int_array(products),
            "location_set": _int_array(locations),
            "t": as_of,
        }
        # Planned for this page's arrays, not once for any: psycopg prepares a statement run
        # five times on a connection, and PostgreSQL's generic plan of this one (arrays of
        # unknown length and content) cost ~2.7x the server CPU of planning it each time.
        # For the rest of the page's transaction (its correction statements are few).
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        deltas = [
            (location_id, product_id, int(delta))
            for product_id, location_id, delta in session.execute(sql(_BALANCE_DELTAS, "t"), params)
        ]
    else:
        current = repo.on_hand_of(session, products, locations)
        pending = on_hand_unknown_to_erp(session, as_of, locations, products)
        deltas = []
        for pair, balance in balances.items():
            # a negative ERP balance is none sellable (as in a snapshot), not stale stock
            delta = max(0, max(0, balance) + pending.get(pair, 0)) - current.get(pair, 0)
            if delta:
                deltas.append((pair[1], pair[0], delta))
        deltas.sort()  # the few that differ, not the whole page
    return [
        ErpLine(
            product_id,
            location_id,
            Bucket.on_hand,
            delta,
            Reason.correction,
            occurred_at=as_of,
            reference=reference,
        )
        for location_id, product_id, delta in deltas
    ]


# --- staging --------------------------------------------------------------------------------


def create_tables(conn: Connection) -> None:
    """(Re)create the temporary tables of one snapshot on the caller's connection."""
    drop_tables(conn)
    # INTEGER quantities: SUM(integer) is a fast bigint sum on PostgreSQL, SUM(bigint) numeric
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE {STAGE} (first_seq INTEGER, product_id INTEGER,"
            " location_id INTEGER, unrestricted INTEGER, quality INTEGER, blocked INTEGER,"
            " returns INTEGER, transit INTEGER)"
        )
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE snap_drift (first_seq INTEGER, level_id INTEGER,"
            " product_id INTEGER, location_id INTEGER, unrestricted BIGINT, quality BIGINT,"
            " blocked BIGINT, returns BIGINT, transit BIGINT)"
        )
    )
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE snap_chunk (level_id INTEGER, product_id INTEGER,"
            " location_id INTEGER, reported BIGINT, quality BIGINT, blocked BIGINT,"
            " returns BIGINT, transit BIGINT, cur_on_hand BIGINT, cur_quality BIGINT,"
            " cur_blocked BIGINT, cur_returns BIGINT, pending BIGINT, new_on_hand BIGINT)"
        )
    )


def drop_tables(conn: Connection) -> None:
    """Drop the temporary tables of a snapshot (those that exist)."""
    for name in TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def stage_rows(conn: Connection, rows: Sequence[Any]) -> None:
    """Append positions to :data:`STAGE`, columns :data:`POSITION_COLUMNS` in order: on
    PostgreSQL as lines of COPY text (tab-separated, newline-terminated: assembled by the
    caller's hot loop, much faster than adapting values), elsewhere as tuples."""
    if rows and conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        columns = ", ".join(POSITION_COLUMNS)
        with raw.cursor() as cur, cur.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as cp:
            cp.write("".join(rows))
    else:
        bulk_insert(conn, STAGE, POSITION_COLUMNS, rows)


# --- the drift pass ---------------------------------------------------------------------------

# SAP allows negative unrestricted stock at a store (goods issued before their receipt was
# posted): such a position counts as none sellable, never as stale stock. _REPORTED is what goes
# on hand; _AS_REPORTED keeps the ERP's own figure for the reconciliation report.
_UNRESTRICTED = "CASE WHEN p.unrestricted < 0 THEN 0 ELSE p.unrestricted END"
_REPORTED = f"{_UNRESTRICTED} + p.quality + p.blocked + p.returns"
_AS_REPORTED = "p.unrestricted + p.quality + p.blocked + p.returns"
_NEW_ON_HAND = (
    f"CASE WHEN {_REPORTED} + COALESCE(m.pending, 0) < 0 THEN 0"
    f" ELSE {_REPORTED} + COALESCE(m.pending, 0) END"
)
_DRIFT = (
    "WITH pend AS MATERIALIZED (SELECT mv.product_id, mv.location_id, SUM(mv.quantity)"
    f" AS pending FROM movements mv WHERE {UNKNOWN_TO_ERP}"
    " GROUP BY mv.product_id, mv.location_id)"
    " INSERT INTO snap_drift (first_seq, level_id, product_id, location_id, unrestricted,"
    " quality, blocked, returns, transit) SELECT p.first_seq, s.id, p.product_id,"
    " p.location_id, p.unrestricted, p.quality, p.blocked, p.returns, p.transit"
    " FROM snap_pos p LEFT JOIN stock_levels s"
    " ON s.product_id = p.product_id AND s.location_id = p.location_id"
    " LEFT JOIN pend m ON m.product_id = p.product_id AND m.location_id = p.location_id"
    f" WHERE (s.id IS NULL AND {_REPORTED} > 0)"
    f" OR {_NEW_ON_HAND} <> s.on_hand OR p.quality <> s.blocked_quality"
    " OR p.blocked <> s.blocked_stock OR p.returns <> s.blocked_returns"
)
_CREATE_LEVELS = (
    "INSERT INTO stock_levels (product_id, location_id, on_hand, reserved,"
    " blocked_quality, blocked_stock, blocked_returns, safety_stock, version, as_of,"
    " updated_at) SELECT d.product_id, d.location_id, 0, 0, 0, 0, 0, 0, 0, :now, :now"
    " FROM snap_drift d WHERE d.level_id IS NULL ORDER BY d.location_id, d.product_id"
    " ON CONFLICT (product_id, location_id) DO NOTHING"
)
_LINK_LEVELS = (
    "UPDATE snap_drift SET level_id = (SELECT s.id FROM stock_levels s"
    " WHERE s.product_id = snap_drift.product_id"
    " AND s.location_id = snap_drift.location_id) WHERE level_id IS NULL"
)


def prepare(conn: Connection, as_of: dt.datetime, duplicates: bool) -> int:
    """Make ``snap_pos`` (one row per product x location: the staged rows, summed only when
    ``duplicates`` says some position has several rows), then find in one pass the positions
    whose level differs from what the snapshot implies, creating the missing levels of positions
    with stock (empty, version 0, as ``repository.ensure_levels`` does).

    Only those positions are locked and written by :func:`apply_chunk`: a level that agrees
    stays in agreement under concurrent sales, because every Sincro change of on-hand that the
    ERP does not know is itself pending (the changes that are not — the ERP's own files and
    acknowledgements — the caller serialises with the snapshot). Returns the number of
    positions that differ."""
    if duplicates:
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE snap_pos AS SELECT MIN(first_seq) AS first_seq,"
                " product_id, location_id, SUM(unrestricted) AS unrestricted,"
                " SUM(quality) AS quality, SUM(blocked) AS blocked, SUM(returns) AS returns,"
                f" SUM(transit) AS transit FROM {STAGE} GROUP BY product_id, location_id"
            )
        )
        conn.execute(text(f"DROP TABLE {STAGE}"))
    else:
        conn.execute(text(f"ALTER TABLE {STAGE} RENAME TO snap_pos"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE snap_pos"))
    drift = _rowcount(conn.execute(sql(_DRIFT, "t"), {"t": as_of}))
    if drift < 0:  # SQLite's driver does not count the rows of a WITH … INSERT
        drift = int(conn.scalar(text("SELECT COUNT(*) FROM snap_drift")) or 0)
    if _rowcount(conn.execute(sql(_CREATE_LEVELS, "now"), {"now": utcnow()})):
        conn.execute(text(_LINK_LEVELS))
    conn.execute(text("CREATE INDEX ix_snap_drift_seq ON snap_drift (first_seq)"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE snap_drift"))
    return drift


# --- one chunk ---------------------------------------------------------------------------------

_IN_CHUNK = "(SELECT level_id FROM snap_drift WHERE first_seq > :a AND first_seq <= :b)"
_LOCK = (
    f"SELECT s.id FROM stock_levels s WHERE s.id IN {_IN_CHUNK}"
    " ORDER BY s.location_id, s.product_id FOR UPDATE"
)
_COMPUTE = (
    "INSERT INTO snap_chunk (level_id, product_id, location_id, reported, quality, blocked,"
    " returns, transit, cur_on_hand, cur_quality, cur_blocked, cur_returns, pending, new_on_hand)"
    " SELECT x.*, CASE WHEN x.reported + x.pending < 0 THEN 0 ELSE x.reported + x.pending END"
    f" FROM (SELECT s.id, p.product_id, p.location_id, {_REPORTED} AS reported,"
    " p.quality, p.blocked, p.returns, p.transit, s.on_hand, s.blocked_quality,"
    " s.blocked_stock, s.blocked_returns,"
    f" COALESCE((SELECT SUM(mv.quantity) FROM movements mv WHERE {UNKNOWN_TO_ERP}"
    " AND mv.product_id = p.product_id AND mv.location_id = p.location_id), 0) AS pending"
    " FROM snap_drift p JOIN stock_levels s ON s.id = p.level_id"
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
    f" FROM snap_chunk c WHERE stock_levels.id = c.level_id AND ({_CHANGED})"
    " RETURNING stock_levels.product_id, stock_levels.location_id, stock_levels.on_hand,"
    " stock_levels.reserved, stock_levels.blocked_quality + stock_levels.blocked_stock"
    " + stock_levels.blocked_returns, stock_levels.safety_stock, stock_levels.version"
)
_LEDGER = " UNION ALL ".join(
    f"SELECT product_id, location_id, '{b}', {n} - {c}, 'correction', :src, NULL, :ref,"
    f" :t, :now, :t FROM snap_chunk WHERE {n} <> {c}"
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


def apply_chunk(
    session: Session, source: str, snapshot_id: int, as_of: dt.datetime, a: int, b: int
) -> int:
    """Apply the differing positions whose first record is in (a, b]: lock their levels in
    (location, product) order, recompute them under the lock, write the changes, the ledger
    rows (``source``, reference :func:`reference`) and the events. Returns the number of
    levels changed. The caller commits."""
    now, ref = utcnow(), reference(snapshot_id)
    span = {"a": a, "b": b}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_LOCK), span)
    session.execute(text("DELETE FROM snap_chunk"))
    session.execute(sql(_COMPUTE, "t"), {**span, "t": as_of})
    changed = session.execute(sql(_UPDATE, "now"), {"now": now}).all()
    if changed:
        session.execute(
            sql(_INSERT_LEDGER, "t", "now"), {"src": source, "ref": ref, "t": as_of, "now": now}
        )
        _record_events(session, changed, ref)
    return len(changed)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _record_events(session: Session, rows: Sequence[Any], ref: str) -> None:
    skus = _skus(session, {r[0] for r in rows})
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
                available=repo.available_to_sell(on_hand, reserved, blocked, safety),
                on_hand=on_hand,
                reserved=reserved,
                version=version,
                cause="snapshot",
                reference=ref,
            )
        )
    record_events(session, changes)


# --- what a reconciliation report needs ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drift:
    """One position's on-hand correction."""

    sku: str
    location: str
    reported: int  # the ERP's figure, negative when SAP's unrestricted stock is
    drift: int
    counted: int  # what went on hand for it: the figure with negative unrestricted taken as 0

    @property
    def expected(self) -> int:
        """What the ledger expected the ERP to report."""
        return self.counted - self.drift


@dataclass(frozen=True, slots=True)
class DriftSummary:
    """The on-hand corrections of one snapshot: count, Σ|drift|, Σdrift and the largest."""

    positions: int
    units_abs: int
    units_sum: int
    largest: list[Drift]


@dataclass(frozen=True, slots=True)
class PositionSample:
    """Some positions of a snapshot (not mentioned; negative): how many, their units, and a
    sample of (sku, location code, units)."""

    count: int
    units: int
    sample: list[tuple[str, str, int]]


def position_totals(session: Session) -> tuple[int, int]:
    """(positions, units reported on hand) of the staged snapshot."""
    positions, reported = session.execute(
        text(f"SELECT COUNT(*), COALESCE(SUM({_REPORTED}), 0) FROM snap_pos p")
    ).one()
    return int(positions), int(reported)


def drift_summary(session: Session, source: str, snapshot_id: int, top: int = 20) -> DriftSummary:
    """The on-hand corrections one snapshot made (from its ledger rows), the ``top`` largest
    first with what the snapshot reported there."""
    params = {"ref": reference(snapshot_id), "src": source}
    count, units_abs, units_sum = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(ABS(quantity)), 0), COALESCE(SUM(quantity), 0)"
            " FROM movements WHERE reference = :ref AND bucket = 'on_hand' AND source = :src"
        ),
        params,
    ).one()
    rows = session.execute(
        text(
            f"SELECT m.product_id, m.location_id, m.quantity, {_AS_REPORTED}, {_REPORTED}"
            " FROM movements m"
            " JOIN snap_drift p ON p.product_id = m.product_id AND p.location_id = m.location_id"
            " WHERE m.reference = :ref AND m.bucket = 'on_hand' AND m.source = :src"
            " ORDER BY ABS(m.quantity) DESC, m.id LIMIT :top"
        ),
        {**params, "top": top},
    ).all()
    skus = _skus(session, {r[0] for r in rows})
    places = catalog.directory(session)
    largest = [
        Drift(skus.get(p, str(p)), _code(places, loc), int(rep), int(qty), int(counted))
        for p, loc, qty, rep, counted in rows
    ]
    return DriftSummary(int(count), int(units_abs), int(units_sum), largest)


def negative_positions(session: Session, sample: int = 20) -> PositionSample:
    """Staged positions whose unrestricted stock the ERP reports below zero (taken as zero
    sellable): how many, their units (negative) and a sample of (sku, location, unrestricted)."""
    count, units = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(p.unrestricted), 0) FROM snap_pos p"
            " WHERE p.unrestricted < 0"
        )
    ).one()
    if not count:
        return PositionSample(0, 0, [])
    rows = session.execute(
        text(
            "SELECT p.product_id, p.location_id, p.unrestricted FROM snap_pos p"
            " WHERE p.unrestricted < 0 ORDER BY p.unrestricted, p.first_seq LIMIT :n"
        ),
        {"n": sample},
    ).all()
    return _positions(session, int(count), int(units), rows)


def missing_positions(session: Session, sample: int = 20) -> PositionSample:
    """Levels with stock at the snapshot's locations that the snapshot did not mention."""
    session.execute(text("DROP TABLE IF EXISTS snap_locations"))
    session.execute(
        text("CREATE TEMPORARY TABLE snap_locations AS SELECT DISTINCT location_id FROM snap_pos")
    )
    stocked, units = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(s.on_hand), 0) FROM stock_levels s"
            " WHERE s.on_hand > 0 AND s.location_id IN (SELECT location_id FROM snap_locations)"
        )
    ).one()
    listed, listed_units = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(s.on_hand), 0) FROM snap_pos p JOIN stock_levels s"
            " ON s.product_id = p.product_id AND s.location_id = p.location_id"
            " WHERE s.on_hand > 0"
        )
    ).one()
    count, units = int(stocked) - int(listed), int(units) - int(listed_units)
    if count <= 0:
        return PositionSample(0, 0, [])
    rows = session.execute(
        text(
            "SELECT s.product_id, s.location_id, s.on_hand FROM stock_levels s"
            " JOIN snap_locations l ON l.location_id = s.location_id WHERE s.on_hand > 0"
            " AND NOT EXISTS (SELECT 1 FROM snap_pos p WHERE p.product_id = s.product_id"
            " AND p.location_id = s.location_id) LIMIT :n"
        ),
        {"n": sample},
    ).all()
    return _positions(session, count, units, rows)


def _positions(session: Session, count: int, units: int, rows: Sequence[Any]) -> PositionSample:
    places = catalog.directory(session)
    skus = _skus(session, {r[0] for r in rows})
    return PositionSample(
        count, units, [(skus.get(p, str(p)), _code(places, loc), int(q)) for p, loc, q in rows]
    )


def _skus(session: Session, product_ids: set[int]) -> dict[int, str]:
    return catalog.skus_by_id(session, product_ids)


def _code(places: catalog.LocationDirectory, location_id: int) -> str:
    place = places.by_id.get(location_id)
    return place.code if place else str(location_id)
