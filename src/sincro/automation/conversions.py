"""Conversions: a reservation or sale of the offered product by the offered customer within
``SINCRO_AUTOMATION_CONVERSION_DAYS`` of the offer.

:func:`conversions_source` reads purchases through inventory's service: a committed
reservation made for the offer's customer (reservations carry the customer the shop or the
assistant names) holding the offered SKU, or one whose ``order_reference`` is the offer's code,
or a till sale whose ``reference`` is the code (printed in every offer mail: ``offer_code``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sincro.automation import repository as repo
from sincro.config import Settings
from sincro.db import utcnow
from sincro.inventory import service as inventory


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
    """The first purchase that converts each offer, by offer id."""
    if not offers:
        return {}
    by_code = {o.code: o for o in offers}
    by_customer: dict[int, list[OfferRef]] = {}
    for offer in offers:
        by_customer.setdefault(offer.customer_id, []).append(offer)
    found: dict[int, Conversion] = {}
    bought = inventory.purchases(
        session,
        references=by_code,
        customer_ids=by_customer,
        since=min(o.since for o in offers),
    )
    for purchase in bought:
        candidates = by_customer.get(purchase.customer_id or -1, []) + (
            [by_code[purchase.reference]] if purchase.reference in by_code else []
        )
        for offer in candidates:
            _take(found, offer, purchase.sku, purchase.at, purchase.what)
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
