"""Inventory rules: movements, counts, ledger verification and reads for other domains; the
reservation rules live in :mod:`sincro.inventory.reservations` and are offered here too, so
other domains have one door (``inventory.service``).

Every function takes the caller's session and never commits. Each change to a stock level
writes its ledger row and its outbox event in the same transaction. Level rows are always
changed in (location_id, product_id) order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.events import AvailabilityChange
from sincro.inventory import repository as repo
from sincro.inventory.changes import FREE_STOCK_REASONS, Changes, free_units, level_out, resolve
from sincro.inventory.exceptions import (
    InsufficientStock,
    LevelLimitExceeded,
    VersionMismatch,
)
from sincro.inventory.models import Bucket, Reason
from sincro.inventory.purchases import (
    Purchase as Purchase,
    purchases as purchases,
)
from sincro.inventory.repository import LevelRow

# The reservation rules, offered through this door too (explicit re-exports).
from sincro.inventory.reservations import (
    ANY_OWNER as ANY_OWNER,
    Owner as Owner,
    commit_reservation as commit_reservation,
    expire_holds as expire_holds,
    extend_reservation as extend_reservation,
    get_reservation as get_reservation,
    has_expired_holds as has_expired_holds,
    release_reservation as release_reservation,
    reservation_out as reservation_out,
    reservations_for_customer as reservations_for_customer,
    reserve as reserve,
)
from sincro.inventory.schemas import (
    LevelOut,
    MovementIn,
    StockCountIn,
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
            if line.quantity > 0:  # an increase fails only on the upper bound
                have = getattr(current, line.bucket.value, 0)
                field = f"movements[{i}].quantity"
                raise LevelLimitExceeded(field, line.sku, line.location, line.bucket.value, have)
            have = free_units(current) if free_only else getattr(current, line.bucket.value, 0)
            short.append(
                {
                    "field": f"movements[{i}].quantity",
                    "line": i,
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
        raise InsufficientStock(sorted(short, key=lambda s: s["line"]))
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


def available_by_location(session: Session, sku: str) -> dict[str, int]:
    """Units available now at each active location holding some of ``sku`` (holds
    discounted as the availability API does: an expired hold no sweep has released yet no
    longer counts), by location code in the directory's order; for domains that must know
    whether a place has a product now (the wish list, the assistant). :class:`UnknownSku`
    (422 naming ``sku``) when there is no such product.

    What :func:`~sincro.inventory.availability.load_snapshot` says of each location's
    ``available``, read leaner for a hot path (a chat turn): the product's id from the
    process's SKU ids (a query only for a SKU new to the process), the expired holds and the
    levels' five counting columns — no snapshot arrays, timestamps or next expiry."""
    from sincro.inventory.exceptions import UnknownSku

    product_id = catalog.product_ids(session, [sku]).get(sku)
    if product_id is None:
        raise UnknownSku(f"unknown SKU {sku!r}", field="sku")
    expired = repo.expired_hold_quantities(session, [product_id], utcnow())
    directory, reloaded = catalog.directory(session), False
    available: dict[int, int] = {}
    for location_id, on_hand, reserved, blocked, safety_stock in repo.counts_of(
        session, product_id
    ):
        if location_id not in directory.by_id and not reloaded:  # newer than the directory
            directory, reloaded = catalog.directory(session, need_id=location_id), True
        reserved -= expired.get((product_id, location_id), 0)
        available[location_id] = repo.available_to_sell(on_hand, reserved, blocked, safety_stock)
    return {
        place.code: available[place.id]
        for place in directory.places
        if place.active and available.get(place.id, 0) > 0
    }
