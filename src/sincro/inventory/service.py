"""Inventory rules: movements, counts, reservations, expiry and ledger verification.

Every function takes the caller's session and never commits. Each change to a stock level
writes its ledger row and its outbox event in the same transaction. Level rows are always
changed in (location_id, product_id) order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.events import AvailabilityChange, record_events
from sincro.inventory import repository as repo
from sincro.inventory.allocation import plan_allocation
from sincro.inventory.exceptions import (
    InsufficientStock,
    ReservationClosed,
    ReservationNotFound,
    UnknownLocation,
    UnknownSku,
    VersionMismatch,
)
from sincro.inventory.models import Bucket, Reason, Reservation, ReservationLine, ReservationStatus
from sincro.inventory.repository import LevelRow
from sincro.inventory.schemas import (
    HeldLine,
    LevelOut,
    MovementIn,
    ReservationLineIn,
    ReservationOut,
    StockCountIn,
)

ALLOCATION_ATTEMPTS = 5
# Decreases for these reasons may only take stock nobody holds; counts and corrections record
# physical facts and may leave holds uncovered (their commit then fails and verify shows it).
FREE_STOCK_REASONS = frozenset({Reason.sale, Reason.transfer})


def _free(level: LevelRow | None) -> int:
    return max(0, level.on_hand - level.reserved - level.blocked) if level else 0


@dataclass
class Resolved:
    """SKUs and location codes of a request, resolved to ids."""

    product_ids: dict[str, int] = field(default_factory=dict)
    location_ids: dict[str, int] = field(default_factory=dict)

    @property
    def skus(self) -> dict[int, str]:
        """SKU by product id."""
        return {product_id: sku for sku, product_id in self.product_ids.items()}


def resolve(
    session: Session, items: Sequence[tuple[str, str | None]], field_prefix: str = "lines"
) -> Resolved:
    """Resolve (sku, location) pairs; one error naming every unknown line."""
    products = catalog.product_ids(session, {s for s, _ in items})
    places = catalog.places_by_code(session, {loc for _, loc in items if loc})
    locations = {code: place.id for code, place in places.items()}
    unknown_skus = [
        {"field": f"{field_prefix}[{i}].sku", "sku": sku}
        for i, (sku, _) in enumerate(items)
        if sku not in products
    ]
    if unknown_skus:
        first = unknown_skus[0]
        raise UnknownSku(
            f"unknown SKU {first['sku']!r}", field=first["field"], details=unknown_skus
        )
    unknown_locations = [
        {"field": f"{field_prefix}[{i}].location", "location": loc}
        for i, (_, loc) in enumerate(items)
        if loc and loc not in locations
    ]
    if unknown_locations:
        first = unknown_locations[0]
        raise UnknownLocation(
            f"unknown location {first['location']!r}",
            field=first["field"],
            details=unknown_locations,
        )
    return Resolved(products, locations)


class Changes:
    """Collects ledger rows and outbox events for one transaction."""

    def __init__(self, session: Session, source: str, now: dt.datetime) -> None:
        self.session, self.source, self.now = session, source, now
        self.movements: list[dict[str, object]] = []
        self.events: list[AvailabilityChange] = []
        self._sku: dict[int, str] = {}
        self._code: dict[int, str] = {}

    def record(
        self,
        level: LevelRow,
        bucket: Bucket,
        quantity: int,
        reason: Reason,
        *,
        reference: str | None = None,
        idempotency_key: str | None = None,
        occurred_at: dt.datetime | None = None,
        cause: str | None = None,
        erp_known_at: dt.datetime | None = None,
    ) -> None:
        self.movements.append(
            {
                "product_id": level.product_id,
                "location_id": level.location_id,
                "bucket": bucket.value,
                "quantity": quantity,
                "reason": reason.value,
                "source": self.source,
                "idempotency_key": idempotency_key,
                "reference": reference,
                "occurred_at": occurred_at or self.now,
                "recorded_at": self.now,
                "erp_known_at": erp_known_at,
            }
        )
        self.events.append(
            AvailabilityChange(
                sku=self._sku_of(level.product_id),
                location=self._code_of(level.location_id),
                available=level.available,
                on_hand=level.on_hand,
                reserved=level.reserved,
                version=level.version,
                cause=cause or reason.value,
                reference=reference,
            )
        )

    def remember_skus(self, skus: dict[int, str]) -> None:
        self._sku.update(skus)

    def _code_of(self, location_id: int) -> str:
        code = self._code.get(location_id)
        if code is None:
            code = self._code[location_id] = catalog.location_code(self.session, location_id)
        return code

    def _sku_of(self, product_id: int) -> str:
        if product_id not in self._sku:
            self._sku[product_id] = catalog.skus_by_id(self.session, [product_id])[product_id]
        return self._sku[product_id]

    def flush(self) -> None:
        repo.add_movements(self.session, self.movements)
        record_events(self.session, self.events)
        self.movements, self.events = [], []


def level_out(session: Session, level: LevelRow, sku: str) -> LevelOut:
    return LevelOut(
        sku=sku,
        location=catalog.location_code(session, level.location_id),
        on_hand=level.on_hand,
        reserved=level.reserved,
        blocked=level.blocked,
        safety_stock=level.safety_stock,
        available=level.available,
        version=level.version,
        as_of=level.as_of,
    )


# --- movements and counts ---------------------------------------------------------------


def apply_movements(
    session: Session,
    source: str,
    lines: Sequence[MovementIn],
    idempotency_key: str | None = None,
    *,
    erp_known: bool = False,
) -> list[LevelOut]:
    """Apply signed deltas, all or none; one :class:`InsufficientStock` lists every short line.

    ``erp_known`` marks movements the ERP itself reported (a connector applying goods
    movements): they are facts already booked there, so they carry ``erp_known_at`` (their
    business time) and are not held to the free-stock rule, only to on-hand staying >= 0."""
    now = utcnow()
    found = resolve(session, [(m.sku, m.location) for m in lines], "movements")
    pairs = [(found.product_ids[m.sku], found.location_ids[m.location]) for m in lines]
    repo.ensure_levels(session, pairs, now)
    expire_holds(session, product_ids=sorted({p for p, _ in pairs}), now=now, source=source)
    changes = Changes(session, source, now)
    changes.remember_skus(found.skus)
    order = sorted(range(len(lines)), key=lambda i: (pairs[i][1], pairs[i][0], i))
    short, results = [], {}
    for i in order:
        line, (product_id, location_id) = lines[i], pairs[i]
        free_only = (
            not erp_known
            and line.bucket == Bucket.on_hand
            and line.quantity < 0
            and (line.reason in FREE_STOCK_REASONS)
        )
        level = repo.change_bucket(
            session,
            product_id,
            location_id,
            line.bucket,
            line.quantity,
            now,
            require_free=free_only,
        )
        if level is None:
            current = repo.lock_level(session, product_id, location_id)
            have = _free(current) if free_only else getattr(current, line.bucket.value, 0)
            short.append(
                {
                    "field": f"movements[{i}].quantity",
                    "sku": line.sku,
                    "location": line.location,
                    "requested": -line.quantity,
                    "available": have,
                    "bucket": line.bucket.value,
                }
            )
            continue
        changes.record(
            level,
            line.bucket,
            line.quantity,
            line.reason,
            reference=line.reference,
            idempotency_key=idempotency_key,
            occurred_at=line.occurred_at,
            erp_known_at=(line.occurred_at or now) if erp_known else None,
        )
        results[i] = level_out(session, level, line.sku)
    if short:
        raise InsufficientStock(sorted(short, key=lambda s: s["field"]))
    changes.flush()
    return [results[i] for i in range(len(lines))]


def set_count(
    session: Session,
    source: str,
    location_code: str,
    sku: str,
    count: StockCountIn,
    expected_version: int | None,
    *,
    actor: Actor | None = None,
) -> LevelOut:
    """Set on-hand to an absolute count (optimistic: ``expected_version`` must match).
    Audited as ``stock.count`` by ``actor`` (default: a system actor named ``source``)."""
    now = utcnow()
    found = resolve(session, [(sku, location_code)], "stock")
    product_id, location_id = found.product_ids[sku], found.location_ids[location_code]
    repo.ensure_levels(session, [(product_id, location_id)], now)
    expire_holds(session, product_ids=[product_id], now=now, source=source)
    current = repo.lock_level(session, product_id, location_id)
    assert current is not None
    if expected_version is not None and current.version != expected_version:
        raise VersionMismatch(current.version)
    changes = Changes(session, source, now)
    changes.remember_skus({product_id: sku})
    level = current
    delta = count.on_hand - current.on_hand
    if delta:
        updated = repo.set_on_hand(
            session, product_id, location_id, count.on_hand, current.version, now
        )
        if updated is None:
            raise VersionMismatch(repo.lock_level(session, product_id, location_id).version)  # type: ignore[union-attr]
        level = updated
        changes.record(level, Bucket.on_hand, delta, count.reason)
    if count.safety_stock is not None and count.safety_stock != level.safety_stock:
        level = repo.set_safety_stock(session, product_id, location_id, count.safety_stock, now)
        if not delta:
            changes.events.append(
                AvailabilityChange(
                    sku=sku,
                    location=location_code,
                    available=level.available,
                    on_hand=level.on_hand,
                    reserved=level.reserved,
                    version=level.version,
                    cause="safety_stock",
                )
            )
    changes.flush()
    audit.record(
        session,
        actor or Actor.system(source),
        "stock.count",
        Entity("stock_level", f"{location_code}/{sku}"),
        _count_view(current, None),
        _count_view(level, count.reason),
    )
    return level_out(session, level, sku)


def _count_view(level: LevelRow, reason: Reason | None) -> dict[str, object]:
    """What the audit log keeps of a level around a count."""
    view: dict[str, object] = {
        "on_hand": level.on_hand,
        "safety_stock": level.safety_stock,
        "version": level.version,
    }
    return view if reason is None else {**view, "reason": reason.value}


# --- reservations -----------------------------------------------------------------------


def reserve(
    session: Session,
    channel: str,
    lines: Sequence[ReservationLineIn],
    ttl_seconds: int,
    ship_to: tuple[float, float] | None = None,
    order_reference: str | None = None,
) -> ReservationOut:
    """Hold stock for every line or for none.

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
            session, channel, holds, now, ttl_seconds, order_reference
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
) -> Reservation:
    """The reservation and its lines, in (location, product) order (rolled back with the
    holds when one of them cannot be taken)."""
    expires_at = now + dt.timedelta(seconds=ttl_seconds)
    reservation = Reservation(
        public_id=str(uuid.uuid4()),
        status=ReservationStatus.active.value,
        channel=channel,
        order_reference=order_reference,
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
            level, Bucket.reserved, qty, Reason.reservation, reference=reservation.public_id
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
        status=reservation.status,
        order_reference=reservation.order_reference,
        expires_at=reservation.expires_at,
        created_at=reservation.created_at,
        lines=[
            HeldLine(sku=sku, location=catalog.location_code(session, location_id), qty=qty)
            for sku, location_id, qty in held
        ],
    )


def get_reservation(session: Session, public_id: str) -> Reservation:
    reservation = repo.get_reservation(session, public_id)
    if reservation is None:
        raise ReservationNotFound(f"unknown reservation {public_id!r}", field="id")
    return reservation


def commit_reservation(session: Session, public_id: str, source: str) -> ReservationOut:
    """Turn the held stock into a sale (idempotent for a committed reservation)."""
    return _close(session, public_id, source, ReservationStatus.committed)


def release_reservation(session: Session, public_id: str, source: str) -> ReservationOut:
    """Give the held stock back (idempotent for a released reservation)."""
    return _close(session, public_id, source, ReservationStatus.released)


def _close(
    session: Session, public_id: str, source: str, target: ReservationStatus
) -> ReservationOut:
    now = utcnow()
    reservation = get_reservation(session, public_id)
    if reservation.status == target.value:
        return reservation_out(session, reservation)
    if not repo.close_reservation(session, reservation.id, target, now, require_unexpired=True):
        session.refresh(reservation)
        if reservation.status == target.value:
            return reservation_out(session, reservation)
        status = reservation.status
        if status == ReservationStatus.active.value:
            status = ReservationStatus.expired.value
        raise ReservationClosed(
            f"reservation {public_id} is {status} and cannot be {target.value}",
            field="id",
            details=[{"status": status}],
        )
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


def extend_reservation(session: Session, public_id: str, ttl_seconds: int) -> ReservationOut:
    now = utcnow()
    reservation = get_reservation(session, public_id)
    new_expiry = now + dt.timedelta(seconds=ttl_seconds)
    if not repo.extend_reservation(session, reservation.id, new_expiry, now):
        session.refresh(reservation)
        status = reservation.status
        if status == ReservationStatus.active.value:
            status = ReservationStatus.expired.value
        raise ReservationClosed(
            f"reservation {public_id} is {status} and cannot be extended",
            field="id",
            details=[{"status": status}],
        )
    session.refresh(reservation)
    return reservation_out(session, reservation)


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
        )
    changes.flush()
    return len(won)


def verify(session: Session, limit: int = 1000) -> list[dict[str, object]]:
    """Stock levels that disagree with the ledger or with the active holds (empty: all good)."""
    places = catalog.directory(session)
    rows = repo.ledger_mismatches(session, limit)
    products = catalog.skus_by_id(session, {r["product_id"] for r in rows})  # type: ignore[misc]
    for row in rows:
        row["sku"] = products.get(row["product_id"])  # type: ignore[call-overload]
        place = places.by_id.get(row["location_id"])  # type: ignore[call-overload]
        row["location"] = place.code if place else row["location_id"]
    return rows


def get_level(session: Session, location_code: str, sku: str) -> LevelOut:
    found = resolve(session, [(sku, location_code)], "stock")
    product_id, location_id = found.product_ids[sku], found.location_ids[location_code]
    level = repo.lock_level(session, product_id, location_id)
    if level is None:
        level = LevelRow(product_id, location_id, 0, 0, 0, 0, 0, utcnow())
    return level_out(session, level, sku)


# --- what the ERPs know, and reads for other domains ------------------------------------
# Plain reads and one conditional update: the repository's functions are the service's.

StockPosition = repo.StockPosition
UnsentMovement = repo.UnsentMovement
movements_for_writeback = repo.movements_for_writeback
mark_erp_known = repo.mark_erp_known
stock_positions = repo.stock_positions


@dataclass(frozen=True, slots=True)
class LocationStockRow:
    """One SKU stocked at a location, as the console's location page lists it."""

    sku: str
    name: str
    on_hand: int
    reserved: int
    blocked: int
    safety_stock: int
    version: int
    updated_at: dt.datetime

    @property
    def available(self) -> int:
        return repo.available_to_sell(self.on_hand, self.reserved, self.blocked, self.safety_stock)


def stock_at_location(
    session: Session, location_id: int, *, offset: int, limit: int
) -> tuple[list[LocationStockRow], int]:
    """The SKUs with units on hand at one location, by SKU: one page of them and the total.
    Names come from catalog's service (a location holds at most the catalog, so the sort by
    SKU happens here rather than in a join across domains)."""
    stocked = repo.stocked_at_location(session, location_id)
    refs = catalog.product_refs(session, [row.product_id for row in stocked])
    rows = sorted(
        (
            LocationStockRow(
                refs[r.product_id].sku,
                refs[r.product_id].name,
                r.on_hand,
                r.reserved,
                r.blocked,
                r.safety_stock,
                r.version,
                r.updated_at,
            )
            for r in stocked
            if r.product_id in refs
        ),
        key=lambda row: row.sku,
    )
    return rows[offset : offset + limit], len(rows)
