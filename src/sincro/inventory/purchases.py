"""Who bought what: committed reservations and till sales, for the domains that attribute
them (marketing automation's conversions). Read through inventory's service only.

A purchase is matched by a *reference* (a committed reservation's ``order_reference`` or a
sale movement's ``reference``: what a shop or a till passes along, such as an offer code) or by
a *customer* (a committed reservation made for ``customer_id``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.inventory.models import (
    Movement,
    Reason,
    Reservation,
    ReservationLine,
    ReservationStatus,
)

CHUNK = 500  # bound the IN lists (SQLite's variable limit)


@dataclass(frozen=True, slots=True)
class Purchase:
    """One SKU bought: by a committed reservation (``what`` = ``reserva <id>``) or a till sale
    (``venda <reference>``), when, under which reference and for which customer if known."""

    sku: str
    at: dt.datetime
    reference: str | None
    customer_id: int | None
    what: str


def purchases(
    session: Session,
    *,
    references: Iterable[str] = (),
    customer_ids: Iterable[int] = (),
    since: dt.datetime | None = None,
) -> list[Purchase]:
    """Purchases carrying one of ``references`` or made for one of ``customer_ids`` (closed at
    or after ``since``), oldest first."""
    refs, ids = sorted(set(references)), sorted(set(customer_ids))
    found: list[tuple[int, dt.datetime, str | None, int | None, str]] = []
    for start in range(0, max(len(refs), len(ids), 1), CHUNK):
        ref_chunk, id_chunk = refs[start : start + CHUNK], ids[start : start + CHUNK]
        if not ref_chunk and not id_chunk:
            break
        found.extend(_reserved(session, ref_chunk, id_chunk, since))
        if ref_chunk:
            found.extend(_sold(session, ref_chunk, since))
    skus = catalog.product_refs(session, {product_id for product_id, *_ in found})
    result = [
        Purchase(skus[product_id].sku, at, reference, customer_id, what)
        for product_id, at, reference, customer_id, what in found
        if product_id in skus
    ]
    return sorted(result, key=lambda p: p.at)


def _reserved(
    session: Session, refs: Sequence[str], ids: Sequence[int], since: dt.datetime | None
) -> list[tuple[int, dt.datetime, str | None, int | None, str]]:
    matches = []
    if refs:
        matches.append(Reservation.order_reference.in_(refs))
    if ids:
        matches.append(Reservation.customer_id.in_(ids))
    query = (
        select(
            ReservationLine.product_id,
            Reservation.closed_at,
            Reservation.order_reference,
            Reservation.customer_id,
            Reservation.public_id,
        )
        .join(ReservationLine, ReservationLine.reservation_id == Reservation.id)
        .where(Reservation.status == ReservationStatus.committed, or_(*matches))
    )
    if since is not None:
        query = query.where(Reservation.closed_at >= since)
    return [
        (int(product_id), closed_at, reference, customer_id, f"reserva {public_id}")
        for product_id, closed_at, reference, customer_id, public_id in session.execute(query)
        if closed_at is not None
    ]


def _sold(
    session: Session, refs: Sequence[str], since: dt.datetime | None
) -> list[tuple[int, dt.datetime, str | None, int | None, str]]:
    query = select(Movement.product_id, Movement.occurred_at, Movement.reference).where(
        Movement.reason == Reason.sale, Movement.reference.in_(refs)
    )
    if since is not None:
        query = query.where(Movement.occurred_at >= since)
    return [
        (int(product_id), at, reference, None, f"venda {reference}")
        for product_id, at, reference in session.execute(query)
    ]
