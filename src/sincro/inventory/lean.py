"""The lean reservation path: one line at a named location, without the ORM.

A flash sale is a storm of one-unit reservations of a few SKUs at one place. The general path
(:func:`sincro.inventory.reservations.reserve`) resolves, expires, plans and records through
the ORM in a dozen statements; this one decides the same thing in ONE statement:

- **PostgreSQL**: a single autocommit statement whose CTEs take the hold (the conditional
  ``UPDATE stock_levels … RETURNING``), insert the reservation, its line, the ledger row, the
  outbox event and the idempotency record from what the UPDATE returned, and report what
  happened. The hot row is locked only while that statement finishes and commits: no client
  round trip, no Python, no GIL between the lock and the COMMIT. From the event loop
  (:func:`reserve_async`) the statements that queued while the pool's connections were busy
  are sent together and committed together (:mod:`sincro.pggroup`: one transaction, one WAL
  flush, each its own answer); the hot rows then stay locked until that one COMMIT.
- **SQLite**: the same statements on a raw connection, as one unit of the database's group
  commit (:mod:`sincro.group_commit`): SQLite has no data-modifying CTEs, and writers
  serialise on the database lock anyway, so one writer thread per process runs the queued
  reservations in one ``BEGIN IMMEDIATE`` transaction, each in its own savepoint (a
  reservation not held or failing is rolled back alone) and answers them after the COMMIT.

It keeps every rule of the general path and falls back to it (returns None) whenever the
answer needs the general path's machinery:

- the key's channel scope and ownership: the caller passes the key's source as channel and its
  id as owner, as the general path does;
- expiry: a due hold of the SKU anywhere (``active`` and ``expires_at <= now``) makes the
  statement change nothing and fall back, so the general path expires it first, exactly as it
  always does;
- idempotency: the record is part of the statement; a stored record for the key (found in the
  statement's snapshot) is replayed (or refused with another body), and a twin committing
  concurrently makes the record's INSERT fail on the unique index — the whole statement rolls
  back and the general path replays the twin's answer;
- allocation: only lines that name their location come here; lines without one, and
  reservations of more than one line, take the general path;
- unknown SKU or location codes (not in this process's caches yet) take the general path,
  which names the wrong field or learns the ids.

Both paths leave identical levels, ledger and events (``tests/inventory/test_lean.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError

from sincro.catalog import service as catalog
from sincro.db import Database, fetch_alone, utcnow
from sincro.events import engine_url, wake_commit_listeners
from sincro.group_commit import Unit
from sincro.idempotency import IdempotencyKeyReused, Outcome
from sincro.inventory.exceptions import InsufficientStock
from sincro.inventory.models import MAX_LEVEL
from sincro.inventory.schemas import HeldLine, ReservationOut
from sincro.pgasync import AsyncPool


@dataclass(frozen=True, slots=True)
class LeanReservation:
    """One line at a named location, and who asks (the general path's arguments)."""

    channel: str
    owner_key_id: int | None
    sku: str
    location: str
    qty: int
    ttl_seconds: int
    order_reference: str | None = None
    customer_id: int | None = None  # the customer the shop or the assistant names
    # (scope, Idempotency-Key, request hash) as idempotency.run_idempotent computes them
    idempotency: tuple[str, str, str] | None = None


# --- PostgreSQL: one statement ------------------------------------------------------------

_DUE = (
    "SELECT 1 FROM reservation_lines WHERE product_id = %(p)s AND active AND expires_at <= %(now)s"
)
# the sellable units of a stock_levels row, in SQL (the lean statements, lean_close)
AVAILABLE = "on_hand - reserved - blocked_quality - blocked_stock - blocked_returns - safety_stock"
_RECORD = "SELECT {} FROM idempotency_records WHERE scope = %(scope)s AND key = %(key)s"

# The hold first (its WHERE is the general path's require_available condition, plus "no due
# hold of this SKU" and "no record for this key"); every insert reads from its RETURNING, so
# nothing is written unless the hold was taken. Column lists are spelled out: a new column of
# reservations goes into _RES_COLUMNS/_res_values only.
_RES_COLUMNS = (
    "public_id, status, channel, owner_key_id, order_reference, customer_id, expires_at, created_at"
)
_RES_VALUES = "%(rid)s, 'active', %(channel)s, %(owner)s, %(ref)s, %(customer)s, %(exp)s, %(now)s"

_PG_HOLD = f"""
WITH hold AS (
  UPDATE stock_levels
     SET reserved = reserved + %(qty)s, version = version + 1, updated_at = %(now)s,
         as_of = %(now)s
   WHERE product_id = %(p)s AND location_id = %(l)s
     AND reserved + %(qty)s <= {MAX_LEVEL}
     AND %(qty)s <= {AVAILABLE}
     AND NOT EXISTS ({_DUE})
     {{no_record}}
  RETURNING on_hand, reserved, GREATEST(0, {AVAILABLE}) AS available, version
), res AS (
  INSERT INTO reservations ({_RES_COLUMNS})
  SELECT {_RES_VALUES} FROM hold
  RETURNING id
), line AS (
  INSERT INTO reservation_lines
         (reservation_id, product_id, location_id, quantity, active, expires_at)
  SELECT id, %(p)s, %(l)s, %(qty)s, true, %(exp)s FROM res
), ledger AS (
  INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,
                         idempotency_key, reference, occurred_at, recorded_at, erp_known_at)
  SELECT %(p)s, %(l)s, 'reserved', %(qty)s, 'reservation', %(channel)s, NULL, %(rid)s,
         %(now)s, %(now)s, NULL FROM hold
), outbox AS (
  INSERT INTO events (topic, sku, location, available, on_hand, reserved, version, cause,
                      reference, created_at)
  SELECT 'stock', %(sku)s, %(code)s, available, on_hand, reserved, version, 'reservation',
         NULL, %(now)s FROM hold
){{claim}}
SELECT held,
       CASE WHEN held = 0 THEN EXISTS ({_DUE}) END,
       CASE WHEN held = 0 THEN (SELECT GREATEST(0, {AVAILABLE}) FROM stock_levels
                                 WHERE product_id = %(p)s AND location_id = %(l)s) END,
       {{record}}
  FROM (SELECT count(*) AS held FROM hold) AS outcome
"""
_PG_CLAIM = """, claim AS (
  INSERT INTO idempotency_records (scope, key, request_hash, status_code, response, created_at)
  SELECT %(scope)s, %(key)s, %(hash)s, 201, %(body)s::json, %(now)s FROM hold
)"""
PG_PLAIN = _PG_HOLD.format(no_record="", claim="", record="NULL, NULL, NULL")
PG_KEYED = _PG_HOLD.format(
    no_record=f"AND NOT EXISTS ({_RECORD.format('1')})",
    claim=_PG_CLAIM,
    record=", ".join(
        f"CASE WHEN held = 0 THEN ({_RECORD.format(col)}) END"
        for col in ("request_hash", "status_code", "response::text")
    ),
)

# encoded once: psycopg encodes a str query on every execution and hashes it to find its
# conversion in its cache (2.5 KB each time, ~25 us a reservation)
_PG_PLAIN_BYTES, _PG_KEYED_BYTES = PG_PLAIN.encode(), PG_KEYED.encode()


# --- SQLite: the same, one short transaction ----------------------------------------------

# As on PostgreSQL, the hold's WHERE also says "no due hold of this SKU" and "no record for
# this key": the usual answer (held) takes the UPDATE and the inserts, and only a hold not
# taken reads why (a due hold, the stored record, or the units available).
_SQ_DUE = "SELECT 1 FROM reservation_lines WHERE product_id = :p AND active AND expires_at <= :now"
_SQ_RECORD = "SELECT {} FROM idempotency_records WHERE scope = :scope AND key = :key"
_SQ_HOLD = f"""UPDATE stock_levels
   SET reserved = reserved + :qty, version = version + 1, updated_at = :now, as_of = :now
 WHERE product_id = :p AND location_id = :l
   AND reserved + :qty <= {MAX_LEVEL}
   AND :qty <= {AVAILABLE}
   AND NOT EXISTS ({_SQ_DUE})
   {{no_record}}
RETURNING on_hand, reserved, MAX(0, {AVAILABLE}), version"""
_SQ_WHY = f"""SELECT EXISTS ({_SQ_DUE}),
       (SELECT MAX(0, {AVAILABLE}) FROM stock_levels WHERE product_id = :p AND location_id = :l),
       {{record}}"""
SQ_HOLD_PLAIN = _SQ_HOLD.format(no_record="")
SQ_HOLD_KEYED = _SQ_HOLD.format(no_record=f"AND NOT EXISTS ({_SQ_RECORD.format('1')})")
SQ_WHY_PLAIN = _SQ_WHY.format(record="NULL, NULL, NULL")
SQ_WHY_KEYED = _SQ_WHY.format(
    record=", ".join(
        f"({_SQ_RECORD.format(col)})" for col in ("request_hash", "status_code", "response")
    )
)
_SQ_INSERTS = (
    f"INSERT INTO reservations ({_RES_COLUMNS}) VALUES"
    " (:rid, 'active', :channel, :owner, :ref, :customer, :exp, :now)",
    "INSERT INTO reservation_lines"
    " (reservation_id, product_id, location_id, quantity, active, expires_at)"
    " VALUES (:res_id, :p, :l, :qty, 1, :exp)",
    "INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,"
    " idempotency_key, reference, occurred_at, recorded_at, erp_known_at)"
    " VALUES (:p, :l, 'reserved', :qty, 'reservation', :channel, NULL, :rid, :now, :now, NULL)",
    "INSERT INTO events (topic, sku, location, available, on_hand, reserved, version, cause,"
    " reference, created_at) VALUES ('stock', :sku, :code, :available, :on_hand, :reserved,"
    " :version, 'reservation', NULL, :now)",
)
_SQ_CLAIM = (
    "INSERT INTO idempotency_records (scope, key, request_hash, status_code, response,"
    " created_at) VALUES (:scope, :key, :hash, 201, :body, :now)"
)


def _sqlite_time(moment: dt.datetime) -> str:
    """How SQLAlchemy's SQLite DateTime stores a naive UTC moment (UTCDateTime's format)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


# --- the path -----------------------------------------------------------------------------


def response_body(public_id: str, req: LeanReservation, created: dt.datetime) -> dict[str, Any]:
    """The reservation as the API shows it (the general path's ReservationOut, same JSON)."""
    out = ReservationOut(
        id=public_id,
        status="active",
        order_reference=req.order_reference,
        customer_id=req.customer_id,
        expires_at=created + dt.timedelta(seconds=req.ttl_seconds),
        created_at=created,
        lines=[HeldLine(sku=req.sku, location=req.location, qty=req.qty)],
    )
    return out.model_dump(mode="json")


def reserve(db: Database, req: LeanReservation) -> Outcome | None:
    """Hold ``req`` in one statement (PostgreSQL) or one short transaction (SQLite).

    Returns the 201 (or, for a known Idempotency-Key, the replayed) :class:`Outcome`; raises
    :class:`InsufficientStock` like the general path when the units are not available, and
    :class:`IdempotencyKeyReused` for a key used with another body; returns None when the
    general path must answer (see the module docstring)."""
    ids = known_ids(db, req) or _learn_ids(db, req)
    if ids is None:
        return None
    params, body, encoded = _params(req, ids)
    keyed = req.idempotency is not None
    try:
        result = (_sqlite if db.is_sqlite else _postgres)(db, params, keyed)
    except DBAPIError as exc:
        if _unique_violation(exc):  # a twin with the same key committed first: it replays
            return None
        raise
    return _answer(db, req, params, body, encoded, result)


def known_ids(db: Database, req: LeanReservation) -> tuple[int, int] | None:
    """(product id, location id) of the request when this process knows both already."""
    return catalog.known_ids(db.write_engine, req.sku, req.location)


async def reserve_async(
    db: Database, pool: AsyncPool | None, req: LeanReservation, ids: tuple[int, int]
) -> Outcome | None:
    """:func:`reserve` from the event loop (``ids`` from :func:`known_ids`), the same answers:
    on PostgreSQL the same statement on one of ``pool``'s connections, committed together with
    the reservations queued beside it (:mod:`sincro.pggroup`); on SQLite (``pool`` None) the
    same transaction's work queued to the database's group commit, awaited without a thread
    of the caller's."""
    params, body, encoded = _params(req, ids)
    keyed = req.idempotency is not None
    try:
        if pool is None:
            result = await db.group_commit().run_async(_sqlite_unit(params, keyed))
        else:
            # with the statements queued beside it, in one transaction (:mod:`sincro.pggroup`):
            # each reports its outcome in its row and raises on no business path; batches
            # lock the hot levels in (product, location) order; a keyed one is safe to re-run
            row = await pool.groups.fetchone(
                _PG_KEYED_BYTES if keyed else _PG_PLAIN_BYTES,
                params,
                order=ids,
                retry_safe=keyed,
            )
            result = _postgres_result(row)
    except DBAPIError as exc:
        if _unique_violation(exc):  # a twin with the same key committed first: it replays
            return None
        raise
    return _answer(db, req, params, body, encoded, result)


def _params(
    req: LeanReservation, ids: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """The statement's parameters, the 201's body and its JSON (encoded once: the stored
    idempotency record and the answer are the same bytes)."""
    now = utcnow()
    public_id = str(uuid.uuid4())
    body = response_body(public_id, req, now)
    encoded = orjson.dumps(body)
    naive = now.replace(tzinfo=None)
    params: dict[str, Any] = {
        "p": ids[0],
        "l": ids[1],
        "qty": req.qty,
        "now": naive,
        "exp": naive + dt.timedelta(seconds=req.ttl_seconds),
        "rid": public_id,
        "channel": req.channel,
        "owner": req.owner_key_id,
        "ref": req.order_reference,
        "customer": req.customer_id,
        "sku": req.sku,
        "code": req.location,
    }
    if req.idempotency is not None:
        scope, key, digest = req.idempotency
        params.update(scope=scope, key=key, hash=digest, body=encoded.decode())
    return params, body, encoded


def _answer(
    db: Database,
    req: LeanReservation,
    params: dict[str, Any],
    body: Any,
    encoded: bytes,
    result: Result,
) -> Outcome | None:
    """What the statement's report means (see :func:`reserve`)."""
    held, due, available, record = result
    if held:
        wake_commit_listeners(engine_url(db.write_engine))
        return Outcome(201, body, replayed=False, encoded=encoded)
    if record is not None:
        stored_hash, status, response = record
        if stored_hash != params["hash"]:
            raise IdempotencyKeyReused(
                "Idempotency-Key was already used with a different request body",
                field="Idempotency-Key",
            )
        return Outcome(status, orjson.loads(response), replayed=True)
    if due:
        return None  # the general path expires the due holds first, then reserves
    raise InsufficientStock(
        [{"sku": req.sku, "location": req.location, "requested": req.qty, "available": available}]
    )


def _learn_ids(db: Database, req: LeanReservation) -> tuple[int, int] | None:
    """Have catalog's caches learn the code (a directory older than its TTL: a read) and, if
    still needed, the SKU (a write transaction: product ids are remembered once it commits);
    None when either does not exist."""
    with db.read() as session:
        catalog.places_by_code(session, [req.location])
    ids = catalog.known_ids(db.write_engine, req.sku, req.location)
    if ids is None:
        with db.write() as session:
            catalog.product_ids(session, [req.sku])
            catalog.places_by_code(session, [req.location])
        ids = catalog.known_ids(db.write_engine, req.sku, req.location)
    return ids


Result = tuple[bool, bool, int, tuple[str, int, Any] | None]


def _postgres(db: Database, params: dict[str, Any], keyed: bool) -> Result:
    return _postgres_result(fetch_alone(db.write_engine, PG_KEYED if keyed else PG_PLAIN, params))


def _postgres_result(row: Any) -> Result:
    held, due, available, stored_hash, status, response = row
    record = (stored_hash, status, response) if stored_hash is not None else None
    return bool(held), bool(due), int(available or 0), record


def _sqlite(db: Database, params: dict[str, Any], keyed: bool) -> Result:
    return db.group_commit().run(_sqlite_unit(params, keyed))


def _sqlite_unit(params: dict[str, Any], keyed: bool) -> Unit[Result]:
    """The reservation as a unit of the database's group commit (its own savepoint in a
    shared transaction: kept only when the hold was taken)."""
    params = {
        **params,
        "now": _sqlite_time(params["now"]),
        "exp": _sqlite_time(params["exp"]),
    }

    def unit(conn: Any) -> tuple[bool, Result]:
        out = _sqlite_work(conn, params, keyed)
        return out[0], out

    return unit


def _sqlite_work(conn: Any, params: dict[str, Any], keyed: bool) -> Result:
    level = conn.execute(SQ_HOLD_KEYED if keyed else SQ_HOLD_PLAIN, params).fetchone()
    if level is None:
        due, available, stored_hash, status, response = conn.execute(
            SQ_WHY_KEYED if keyed else SQ_WHY_PLAIN, params
        ).fetchone()
        record = (stored_hash, status, response) if stored_hash is not None else None
        return False, bool(due), int(available or 0), record
    on_hand, reserved, available, version = level
    cur = conn.execute(_SQ_INSERTS[0], params)
    values = {
        **params,
        "res_id": cur.lastrowid,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": available,
        "version": version,
    }
    for statement in _SQ_INSERTS[1:]:
        conn.execute(statement, values)
    if keyed:
        conn.execute(_SQ_CLAIM, values)
    return True, False, available, None


def _unique_violation(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None)
    return code == "23505" or "UNIQUE constraint failed" in str(orig)
