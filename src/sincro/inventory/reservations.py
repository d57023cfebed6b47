"""Reservations: hold every line or none, allocate lines without a location, commit, release,
extend, and expire holds. Every function takes the caller's session and never commits; level
rows are changed in (location_id, product_id) order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.inventory import repository as repo
from sincro.inventory.allocation import plan_allocation
from sincro.inventory.changes import ALLOCATION_ATTEMPTS, Changes, Resolved, resolve
from sincro.inventory.exceptions import (
    InsufficientStock,
    ReservationClosed,
    ReservationNotFound,
)
from sincro.inventory.models import Bucket, Reason, Reservation, ReservationLine, ReservationStatus
from sincro.inventory.repository import LevelRow
from sincro.inventory.schemas import (
    HeldLine,
    ReservationLineIn,
    ReservationOut,
)


# Who asks about a reservation: an API key id (only its own holds), or ANY_OWNER (admin keys,
# the CLI and internal callers, which see every hold).
class _AnyOwner:
    def __repr__(self) -> str:
        return "ANY_OWNER"


ANY_OWNER = _AnyOwner()
Owner = int | None | _AnyOwner

# --- reservations -----------------------------------------------------------------------


def reserve(
    session: Session,
    channel: str,
    lines: Sequence[ReservationLineIn],
    ttl_seconds: int,
    ship_to: tuple[float, float] | None = None,
    order_reference: str | None = None,
    owner_key_id: int | None = None,
    customer_id: int | None = None,
) -> ReservationOut:
    """Hold stock for every line or for none, owned by the API key ``owner_key_id``.

    Lines with a location hold there. Lines without one are allocated over the locations that
    ship online: one location for the whole order when possible, nearest to ``ship_to`` first
    (distribution centers first when there is no ``ship_to``), else the fewest splits.
    """
    now = utcnow()
    found = resolve(session, [(ln.sku, ln.location) for ln in lines])
    expire_holds(
        session,
        product_ids=sorted(found.product_ids.values()),
        now=now,
        source=channel,
    )
    fixed: dict[tuple[int, int], int] = {}
    floating: dict[int, int] = {}
    for ln in lines:
        product_id = found.product_ids[ln.sku]
        if ln.location:
            key = (product_id, found.location_ids[ln.location])
            fixed[key] = fixed.get(key, 0) + ln.qty
        else:
            floating[product_id] = floating.get(product_id, 0) + ln.qty
    # No level is created here: a level that does not exist has nothing to hold (short).
    sku_of = found.skus
    for _attempt in range(ALLOCATION_ATTEMPTS):
        # only a floating allocation may be planned again; fixed lines are final (the caller's
        # rollback undoes the holds already taken when one of them is short)
        savepoint = session.begin_nested() if floating else None
        planned, short = _plan_floating(session, fixed, floating, ship_to, sku_of)
        holds = dict(fixed)
        for key, qty in planned.items():
            holds[key] = holds.get(key, 0) + qty
        # the reservation rows first, the stock rows last: a hot level stays locked only for
        # its UPDATE, the ledger and outbox rows and the commit
        reservation = _insert_reservation(
            session, channel, holds, now, ttl_seconds, order_reference, owner_key_id, customer_id
        )
        applied, lost = _apply_holds(session, holds, now)
        short += [_fixed_short(session, key, fixed[key], sku_of) for key in lost if key in fixed]
        if short:
            if savepoint is not None:
                savepoint.rollback()
            raise InsufficientStock(short)
        if not lost:
            if savepoint is not None:
                savepoint.commit()
            return _record_holds(session, reservation, applied, found, now)
        assert savepoint is not None  # only planned (floating) holds can be lost unshort
        savepoint.rollback()  # another order took allocated stock first: plan again
    raise InsufficientStock(
        [
            {"sku": sku_of[p], "location": None, "requested": q, "available": None}
            for p, q in floating.items()
        ]
    )


def _plan_floating(
    session: Session,
    fixed: dict[tuple[int, int], int],
    floating: dict[int, int],
    ship_to: tuple[float, float] | None,
    sku_of: dict[int, str],
) -> tuple[dict[tuple[int, int], int], list[dict[str, object]]]:
    """Holds for the lines without a location, or their shortfall."""
    if not floating:
        return {}, []
    places = catalog.directory(session)
    rows = repo.levels_for(
        session, list(floating), [p.id for p in places.online], only_available=True
    )
    stock: dict[int, dict[int, int]] = {}
    for row in rows:
        free = row.available - fixed.get((row.product_id, row.location_id), 0)
        if free > 0:
            stock.setdefault(row.location_id, {})[row.product_id] = free
    rank = _rank_locations(places, stock.keys(), ship_to)
    plan, shortfall = plan_allocation(floating, stock, rank)
    if shortfall:
        return {}, [
            {
                "sku": sku_of[p],
                "location": None,
                "requested": floating[p],
                "available": floating[p] - missing,
            }
            for p, missing in sorted(shortfall.items())
        ]
    holds = {(p, loc): qty for p, parts in plan.items() for loc, qty in parts}
    return holds, []


def _rank_locations(
    places: catalog.LocationDirectory,
    location_ids: Iterable[int],
    ship_to: tuple[float, float] | None,
) -> dict[int, float]:
    """Smaller is preferred: km from ``ship_to``, or DCs before stores without one."""
    rank: dict[int, float] = {}
    for loc_id in location_ids:
        place = places.by_id[loc_id]
        if ship_to is not None:
            rank[loc_id] = catalog.distance_km(
                ship_to[0], ship_to[1], place.latitude, place.longitude
            )
        else:
            rank[loc_id] = 0.0 if place.kind == "dc" else 1.0
    return rank


def _apply_holds(
    session: Session, holds: dict[tuple[int, int], int], now: dt.datetime
) -> tuple[list[tuple[LevelRow, int]], list[tuple[int, int]]]:
    applied, lost = [], []
    for product_id, location_id in sorted(holds, key=lambda k: (k[1], k[0])):
        qty = holds[(product_id, location_id)]
        level = repo.change_bucket(
            session, product_id, location_id, Bucket.reserved, qty, now, require_available=True
        )
        if level is None:
            lost.append((product_id, location_id))
        else:
            applied.append((level, qty))
    return applied, lost


def _fixed_short(
    session: Session, key: tuple[int, int], requested: int, sku_of: dict[int, str]
) -> dict[str, object]:
    product_id, location_id = key
    level = repo.lock_level(session, product_id, location_id)
    return {
        "sku": sku_of[product_id],
        "location": catalog.location_code(session, location_id),
        "requested": requested,
        "available": level.available if level else 0,
    }


def _insert_reservation(
    session: Session,
    channel: str,
    holds: dict[tuple[int, int], int],
    now: dt.datetime,
    ttl_seconds: int,
    order_reference: str | None,
    owner_key_id: int | None,
    customer_id: int | None = None,
) -> Reservation:
    """The reservation and its lines, in (location, product) order (rolled back with the
    holds when one of them cannot be taken)."""
    expires_at = now + dt.timedelta(seconds=ttl_seconds)
    reservation = Reservation(
        public_id=str(uuid.uuid4()),
        status=ReservationStatus.active.value,
        channel=channel,
        owner_key_id=owner_key_id,
        order_reference=order_reference,
        customer_id=customer_id,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(reservation)
    session.flush()
    session.add_all(
        ReservationLine(
            reservation_id=reservation.id,
            product_id=product_id,
            location_id=location_id,
            quantity=holds[(product_id, location_id)],
            active=True,
            expires_at=expires_at,
        )
        for product_id, location_id in sorted(holds, key=lambda k: (k[1], k[0]))
    )
    session.flush()
    return reservation


def _record_holds(
    session: Session,
    reservation: Reservation,
    applied: list[tuple[LevelRow, int]],
    found: Resolved,
    now: dt.datetime,
) -> ReservationOut:
    """Ledger rows and events of the holds just taken; the reservation as the API shows it
    (built from what is in hand: no read while the levels are locked)."""
    changes = Changes(session, reservation.channel, now)
    changes.remember_skus(found.skus)
    for level, qty in applied:
        changes.record(
            level,
            Bucket.reserved,
            qty,
            Reason.reservation,
            reference=reservation.public_id,
            announce_reference=False,
        )
    changes.flush()
    sku_of = found.skus
    held = [(sku_of[level.product_id], level.location_id, qty) for level, qty in applied]
    return _reservation_out(session, reservation, held)


def reservation_out(session: Session, reservation: Reservation) -> ReservationOut:
    lines = repo.reservation_lines(session, reservation.id)
    skus = catalog.skus_by_id(session, {ln.product_id for ln in lines})
    held = [(skus[ln.product_id], ln.location_id, ln.quantity) for ln in lines]
    return _reservation_out(session, reservation, held)


def _reservation_out(
    session: Session, reservation: Reservation, held: list[tuple[str, int, int]]
) -> ReservationOut:
    """The API's view of a reservation with its (sku, location id, quantity) lines."""
    return ReservationOut(
        id=reservation.public_id,
        status=status_at(reservation, utcnow()),
        order_reference=reservation.order_reference,
        customer_id=reservation.customer_id,
        expires_at=reservation.expires_at,
        created_at=reservation.created_at,
        closed_at=reservation.closed_at,
        lines=[
            HeldLine(sku=sku, location=catalog.location_code(session, location_id), qty=qty)
            for sku, location_id, qty in held
        ],
    )


def reservations_for_customer(
    session: Session, customer_id: int, limit: int = 10
) -> list[ReservationOut]:
    """The latest ``limit`` reservations made for ``customer_id`` (newest first), as the API
    shows them (status as of now): the assistant's order status for a verified customer."""
    rows = repo.reservations_of_customer(session, customer_id, limit)
    return [reservation_out(session, r) for r in rows]


def status_at(reservation: Reservation, now: dt.datetime) -> str:
    """The status as of ``now``: an active hold whose ``expires_at`` has passed reads as
    ``expired`` at once (its stock is already free; commit refuses it), whether or not the
    sweep has closed its row yet."""
    if reservation.status == ReservationStatus.active.value and reservation.expires_at <= now:
        return ReservationStatus.expired.value
    return reservation.status


def _refused(public_id: str, reservation: Reservation, action: str) -> ReservationClosed:
    """The error for a conditional close or extend that matched nothing: the hold was closed
    meanwhile, or it is still marked active but its time is up."""
    status = reservation.status
    if status == ReservationStatus.active.value:
        status = ReservationStatus.expired.value
    return ReservationClosed(
        f"reservation {public_id} is {status} and cannot be {action}",
        field="id",
        details=[{"status": status}],
    )


def get_reservation(session: Session, public_id: str, owner: Owner = ANY_OWNER) -> Reservation:
    """The reservation ``public_id`` if ``owner`` may see it: another key's reservation is as
    unknown as a missing one (same 404), so ids cannot be probed across channels."""
    reservation = repo.get_reservation(session, public_id)
    if reservation is None or (owner is not ANY_OWNER and reservation.owner_key_id != owner):
        raise ReservationNotFound(f"unknown reservation {public_id!r}", field="id")
    return reservation


def commit_reservation(
    session: Session, public_id: str, source: str, owner: Owner = ANY_OWNER
) -> ReservationOut:
    """Turn the held stock into a sale (idempotent for a committed reservation)."""
    return _close(session, public_id, source, ReservationStatus.committed, owner)


def release_reservation(
    session: Session, public_id: str, source: str, owner: Owner = ANY_OWNER
) -> ReservationOut:
    """Give the held stock back (idempotent for a released reservation)."""
    return _close(session, public_id, source, ReservationStatus.released, owner)


def _close(
    session: Session, public_id: str, source: str, target: ReservationStatus, owner: Owner
) -> ReservationOut:
    now = utcnow()
    reservation = get_reservation(session, public_id, owner)
    if reservation.status == target.value:
        return reservation_out(session, reservation)
    if not repo.close_reservation(session, reservation.id, target, now, require_unexpired=True):
        session.refresh(reservation)
        if reservation.status == target.value:
            return reservation_out(session, reservation)
        raise _refused(public_id, reservation, target.value)
    changes = Changes(session, source, now)
    for line in repo.reservation_lines(session, reservation.id):
        sale = target == ReservationStatus.committed
        level = repo.release_reserved(
            session, line.product_id, line.location_id, line.quantity, sale, now
        )
        if level is None:
            raise InsufficientStock(
                [
                    {
                        "sku": changes._sku_of(line.product_id),
                        "location": catalog.location_code(session, line.location_id),
                        "requested": line.quantity,
                        "available": 0,
                    }
                ]
            )
        if sale:
            changes.movements.append(
                _ledger_row(
                    line, Bucket.on_hand, -line.quantity, Reason.sale, source, public_id, now
                )
            )
        changes.record(
            level,
            Bucket.reserved,
            -line.quantity,
            Reason.commit if sale else Reason.release,
            reference=public_id,
            cause="sale" if sale else "release",
            announce_reference=False,
        )
    changes.flush()
    session.refresh(reservation)
    return reservation_out(session, reservation)


def _ledger_row(
    line: ReservationLine,
    bucket: Bucket,
    qty: int,
    reason: Reason,
    source: str,
    reference: str,
    now: dt.datetime,
) -> dict[str, object]:
    return {
        "product_id": line.product_id,
        "location_id": line.location_id,
        "bucket": bucket.value,
        "quantity": qty,
        "reason": reason.value,
        "source": source,
        "idempotency_key": None,
        "reference": reference,
        "occurred_at": now,
        "recorded_at": now,
    }


def extend_reservation(
    session: Session, public_id: str, ttl_seconds: int, owner: Owner = ANY_OWNER
) -> ReservationOut:
    """Keep an active, unexpired hold for ``ttl_seconds`` from now."""
    now = utcnow()
    reservation = get_reservation(session, public_id, owner)
    new_expiry = now + dt.timedelta(seconds=ttl_seconds)
    if not repo.extend_reservation(session, reservation.id, new_expiry, now):
        session.refresh(reservation)
        raise _refused(public_id, reservation, "extended")
    session.refresh(reservation)
    return reservation_out(session, reservation)


def has_expired_holds(session: Session, now: dt.datetime | None = None) -> bool:
    """Whether :func:`expire_holds` would find a reservation to close (the sweep's first read,
    asked by beat before it sends the sweep)."""
    return bool(repo.expired_holds(session, None, now or utcnow(), limit=1))


def expire_holds(
    session: Session,
    *,
    product_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
    source: str = "expiry",
    limit: int = 500,
) -> int:
    """Close reservations whose time is up and give their stock back. Returns how many."""
    now = now or utcnow()
    won = [
        rid
        for rid in repo.expired_holds(session, product_ids, now, limit)
        if repo.close_reservation(
            session, rid, ReservationStatus.expired, now, require_unexpired=False
        )
    ]
    if not won:
        return 0
    changes = Changes(session, source, now)
    lines = [ln for rid in won for ln in repo.reservation_lines(session, rid)]
    refs = {r.id: r.public_id for r in session.query(Reservation).filter(Reservation.id.in_(won))}
    for line in sorted(lines, key=lambda ln: (ln.location_id, ln.product_id, ln.id)):
        level = repo.release_reserved(
            session, line.product_id, line.location_id, line.quantity, False, now
        )
        assert level is not None
        changes.record(
            level,
            Bucket.reserved,
            -line.quantity,
            Reason.expiry,
            reference=refs[line.reservation_id],
            announce_reference=False,
        )
    changes.flush()
    return len(won)
