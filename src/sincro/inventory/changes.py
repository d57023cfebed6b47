"""What every inventory change shares: resolving SKUs and location codes to ids, and the
``Changes`` recorder that writes each level change's ledger row and outbox event in the
caller's transaction. Used by the movement and reservation modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.events import AvailabilityChange, record_events
from sincro.inventory import repository as repo
from sincro.inventory.exceptions import (
    UnknownLocation,
    UnknownSku,
)
from sincro.inventory.models import Bucket, Reason
from sincro.inventory.repository import LevelRow
from sincro.inventory.schemas import (
    LevelOut,
)

ALLOCATION_ATTEMPTS = 5
# Decreases for these reasons may only take stock nobody holds; counts and corrections record
# physical facts and may leave holds uncovered (their commit then fails and verify shows it).
FREE_STOCK_REASONS = frozenset({Reason.sale, Reason.transfer})


def free_units(level: LevelRow | None) -> int:
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
        announce_reference: bool = True,
    ) -> None:
        """One ledger row and its outbox event. ``announce_reference=False`` keeps the
        reference in the ledger only: reservation ids are private to the key that made them,
        and every key reads the feed."""
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
                reference=reference if announce_reference else None,
            )
        )

    def remember_skus(self, skus: dict[int, str]) -> None:
        self._sku.update(skus)

    def remember_codes(self, codes: dict[int, str]) -> None:
        """Location codes by id known to the caller (else each is the directory's)."""
        self._code.update(codes)

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
