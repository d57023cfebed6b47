"""The lean commit and release: closing a one-line reservation in ONE statement (PostgreSQL).

The general path (:func:`sincro.inventory.reservations.commit_reservation` and
``release_reservation``) reads the reservation, closes it, reads its lines, moves the level and
writes the ledger and the outbox through the ORM: nine statements and ~7 ms of an api
process's CPU, ~28x a lean reservation. In a flash sale's mix (1 % commits or releases) that was
~40 % of the api's CPU per request, and the hot level stayed locked from its UPDATE across
several client round trips (each waiting for the GIL behind the request loop) while the grouped
lean reservations queued on that row.

Here one autocommit statement does it, its CTEs reading from each other's RETURNING:

- close the reservation when it is ``active``, unexpired (``expires_at > now``), seen by the
  key (its owner, or any for an admin key) and has exactly one line;
- mark that line inactive; take its quantity out of ``reserved`` (and out of ``on_hand`` for a
  commit, the sale), version + 1, as the general path's ``release_reserved``;
- write the ledger rows (for a commit the sale first, then the reserved movement) and the
  outbox event with the level's new figures, exactly as ``Changes`` does.

A level that cannot give the units back fails the statement on the table's check constraints
(``reserved``/``on_hand`` never negative), so nothing is written. Whenever the statement did
not close the reservation — unknown or another key's id, already closed, expired, more than
one line, the constraint — it returns None and the general path answers, as it always does
(404, the idempotent 200 for a reservation already in that state, 409, ``insufficient_stock``).
Both paths leave identical rows (``tests/inventory/test_lean_close.py``). SQLite keeps the
general path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from sqlalchemy.exc import IntegrityError

from sincro.db import Database, fetch_alone, utcnow
from sincro.events import engine_url, wake_commit_listeners
from sincro.inventory.lean import AVAILABLE
from sincro.inventory.models import ReservationStatus
from sincro.inventory.reservations import ANY_OWNER, Owner
from sincro.inventory.schemas import HeldLine, ReservationOut
from sincro.pgasync import AsyncPool

# The reservation is found by its public id alone: the state and expiry conditions are written
# ``(…) IS TRUE`` so that no index can serve them. In a flash sale the table grows by thousands
# of holds a minute between ANALYZE runs; with the statistics of a smaller table (every
# ``expires_at`` then in the past) the planner took the (status, expires_at) index and read
# every active hold to find one: ~13 ms of PostgreSQL CPU a close at 40,000 holds, most of the
# database's time in the mixed flash-sale bench (docs/benchmarks.md, ninth stop).
_CLOSE = f"""
WITH res AS (
  UPDATE reservations r
     SET status = %(status)s, closed_at = %(now)s
   WHERE r.public_id = %(rid)s
     AND (r.status = 'active') IS TRUE AND (r.expires_at > %(now)s) IS TRUE
     AND (%(any_owner)s OR r.owner_key_id = %(owner)s)
     AND (SELECT count(*) FROM reservation_lines WHERE reservation_id = r.id) = 1
  RETURNING r.id, r.public_id, r.order_reference, r.customer_id, r.expires_at, r.created_at,
            r.closed_at
), closed_line AS (
  UPDATE reservation_lines
     SET active = false
   WHERE reservation_id = (SELECT id FROM res)
  RETURNING product_id, location_id, quantity
), moved AS (
  UPDATE stock_levels s
     SET reserved = s.reserved - line.quantity,
         on_hand = s.on_hand - CASE WHEN %(sale)s THEN line.quantity ELSE 0 END,
         version = s.version + 1, updated_at = %(now)s,
         as_of = CASE WHEN %(sale)s THEN %(now)s ELSE s.as_of END
    FROM closed_line AS line
   WHERE s.product_id = line.product_id AND s.location_id = line.location_id
  RETURNING s.product_id, s.location_id, line.quantity, s.on_hand, s.reserved,
            GREATEST(0, {AVAILABLE}) AS available, s.version
), ledger AS (
  INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,
                         idempotency_key, reference, occurred_at, recorded_at, erp_known_at)
  SELECT level.product_id, level.location_id, kind.bucket, -level.quantity, kind.reason,
         %(channel)s, NULL, %(rid)s, %(now)s, %(now)s, NULL
    FROM moved AS level CROSS JOIN (VALUES (1, 'on_hand', 'sale'), (2, 'reserved', %(reason)s))
                                  AS kind (n, bucket, reason)
   WHERE %(sale)s OR kind.n = 2
   ORDER BY kind.n
), names AS (
  SELECT p.sku, l.code, level.*
    FROM moved AS level JOIN products p ON p.id = level.product_id
               JOIN locations l ON l.id = level.location_id
), outbox AS (
  INSERT INTO events (topic, sku, location, available, on_hand, reserved, version, cause,
                      reference, created_at)
  SELECT 'stock', sku, code, available, on_hand, reserved, version, %(cause)s, NULL, %(now)s
    FROM names
)
SELECT res.public_id, res.order_reference, res.customer_id, res.expires_at, res.created_at,
       res.closed_at, names.sku, names.code, names.quantity
  FROM res JOIN names ON true
"""
_CLOSE_BYTES = _CLOSE.encode()  # encoded once (see lean: psycopg encodes a str per execution)


def close(
    db: Database,
    public_id: str,
    channel: str,
    owner: Owner,
    target: ReservationStatus,
) -> dict[str, Any] | None:
    """Commit (``target`` committed) or release (released) ``public_id`` in one statement
    for ``owner`` (as the general path's: a key id, or ``ANY_OWNER`` for an admin key); the
    reservation's JSON as the general path answers it, or None when the general path must
    answer (nothing was changed)."""
    if db.is_sqlite:
        return None
    try:
        row = fetch_alone(db.write_engine, _CLOSE_BYTES, _params(public_id, channel, owner, target))
    except IntegrityError as exc:
        _raise_unless_refused(exc)
        return None  # the level cannot give the units back: the general path says so
    return _answer(db, row, target)


async def close_async(
    db: Database,
    pool: AsyncPool,
    public_id: str,
    channel: str,
    owner: Owner,
    target: ReservationStatus,
) -> dict[str, Any] | None:
    """:func:`close` from the event loop, the same statement and answers, on one of ``pool``'s
    connections (PostgreSQL: the reservation loop's, :func:`runtime.reservation_pool`). Alone
    in its transaction: which level it moves is known only once the statement ran, so it
    cannot be ordered among a group's hot rows."""
    try:
        row = await pool.fetchone(_CLOSE_BYTES, _params(public_id, channel, owner, target))
    except IntegrityError as exc:
        _raise_unless_refused(exc)
        return None  # the level cannot give the units back: the general path says so
    return _answer(db, row, target)


def _params(
    public_id: str, channel: str, owner: Owner, target: ReservationStatus
) -> dict[str, Any]:
    sale = target == ReservationStatus.committed
    return {
        "rid": public_id,
        "status": target.value,
        "now": utcnow().replace(tzinfo=None),
        "any_owner": owner is ANY_OWNER,
        "owner": None if owner is ANY_OWNER else owner,  # None matches no row: general path
        "sale": sale,
        "reason": "commit" if sale else "release",
        "cause": "sale" if sale else "release",
        "channel": channel,
    }


def _raise_unless_refused(exc: IntegrityError) -> None:
    """Raise ``exc`` unless the level refused to give the units back (a check constraint)."""
    if not isinstance(exc.orig, psycopg.errors.CheckViolation):
        raise exc


def _answer(db: Database, row: Any, target: ReservationStatus) -> dict[str, Any] | None:
    """The closed reservation's JSON from the statement's row (None: not closed)."""
    if row is None:
        return None
    wake_commit_listeners(engine_url(db.write_engine))
    rid, order_reference, customer_id, expires_at, created_at, closed_at, sku, code, qty = row
    out = ReservationOut(
        id=rid,
        status=target.value,
        order_reference=order_reference,
        customer_id=customer_id,
        expires_at=_utc(expires_at),
        created_at=_utc(created_at),
        closed_at=_utc(closed_at),
        lines=[HeldLine(sku=sku, location=code, qty=qty)],
    )
    return out.model_dump(mode="json")


def _utc(moment: dt.datetime) -> dt.datetime:
    """A naive UTC timestamp as read raw, aware as the ORM's UTCDateTime returns it."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
