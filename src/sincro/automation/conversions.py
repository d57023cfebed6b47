"""Conversions: a reservation or sale of the offered product by the offered customer within
``SINCRO_AUTOMATION_CONVERSION_DAYS`` of the offer.

:func:`conversions_source` is THE ONE PLACE that knows where committed sales and reservations
of a customer are read. Today nothing in inventory names a customer, so it attributes by the
offer's code (printed in every offer mail, ``offer_code``): a committed reservation whose
``order_reference`` is the code (the site passes it when the customer comes through the offer)
or a sale movement whose ``reference`` is the code (the store's point of sale types it in),
holding the offered SKU. When reservations carry a customer reference (inventory's service),
switch this function's body to "committed reservations of ``offer.customer_id`` holding
``offer.sku`` closed in the window" (keeping the code match for store sales); nothing else
changes. It reads inventory's tables directly until inventory offers that read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.automation import repository as repo
from sincro.catalog.models import Product
from sincro.config import Settings
from sincro.db import utcnow
from sincro.inventory.models import (
    Movement,
    Reason,
    Reservation,
    ReservationLine,
    ReservationStatus,
)


@dataclass(frozen=True, slots=True)
class OfferRef:
    """What a conversion is looked for: the offer, its customer, product, code and window."""

    offer_id: int
    customer_id: int
    sku: str
    code: str
    since: dt.datetime
    until: dt.datetime


@dataclass(frozen=True, slots=True)
class Conversion:
    at: dt.datetime
    what: str  # for people: "reserva <id>" / "venda <reference>"


def conversions_source(session: Session, offers: Sequence[OfferRef]) -> dict[int, Conversion]:
    """The first committed reservation or sale that converts each offer, by offer id (see the
    module docstring: the single point to switch to the customer reference)."""
    if not offers:
        return {}
    by_code = {o.code: o for o in offers}
    found: dict[int, Conversion] = {}
    codes = sorted(by_code)
    for start in range(0, len(codes), repo.CHUNK):
        chunk = codes[start : start + repo.CHUNK]
        reservations = session.execute(
            select(
                Reservation.order_reference,
                Reservation.public_id,
                Reservation.closed_at,
                Product.sku,
            )
            .join(ReservationLine, ReservationLine.reservation_id == Reservation.id)
            .join(Product, Product.id == ReservationLine.product_id)
            .where(
                Reservation.status == ReservationStatus.committed,
                Reservation.order_reference.in_(chunk),
            )
        )
        for code, public_id, closed_at, sku in reservations:
            _take(found, by_code[str(code)], sku, closed_at, f"reserva {public_id}")
        sales = session.execute(
            select(Movement.reference, Movement.occurred_at, Product.sku)
            .join(Product, Product.id == Movement.product_id)
            .where(Movement.reason == Reason.sale, Movement.reference.in_(chunk))
        )
        for code, occurred_at, sku in sales:
            _take(found, by_code[str(code)], sku, occurred_at, f"venda {code}")
    return found


def _take(
    found: dict[int, Conversion], offer: OfferRef, sku: str, at: dt.datetime | None, what: str
) -> None:
    if at is None or sku != offer.sku or not offer.since <= at <= offer.until:
        return
    current = found.get(offer.offer_id)
    if current is None or at < current.at:
        found[offer.offer_id] = Conversion(at, what)


def record_conversions(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> int:
    """Mark the offers of a product converted since the last look; how many."""
    now = now or utcnow()
    window = dt.timedelta(days=settings.automation_conversion_days)
    pending = repo.unconverted_since(session, now - window)
    refs = [
        OfferRef(o.id, o.customer_id, o.sku, o.code, o.sent_at, o.sent_at + window)
        for o in pending
        if o.sku
    ]
    found = conversions_source(session, refs)
    for offer in pending:
        conversion = found.get(offer.id)
        if conversion is not None:
            offer.converted_at = conversion.at
            offer.conversion = conversion.what[:120]
    session.flush()
    return len(found)
