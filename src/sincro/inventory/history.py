"""Sales history for forecasting: the ledger rolled up into daily aggregates per SKU x
location, on the location's LOCAL day, with the online part and censored (stock-out) days.

- :func:`roll_up` reads the ledger after a cursor: an on-hand ``sale`` movement is units sold
  at its location (a till sale, or an online order's commit shipped from there); a reserved
  ``commit`` movement is the online part of it. Returns count negatively (a return adds back).
  The cursor and the days move in one transaction, so a crash repeats nothing.
- :func:`mark_stockouts` marks today's local day censored for every level with nothing
  sellable (run every few minutes by beat, and by the roll-up for the levels a sale touched);
  a censored day's sales are a floor on demand, not the demand.
- :func:`daily_demand` reads the days at the level forecasting asks for: location, UF,
  DC region, online, or the SKU total; a day of an aggregate is censored when any of its
  locations was.

History is kept as daily aggregates: the forecasting domain never reads the ledger itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.inventory import history_repository as repo
from sincro.inventory.models import Bucket, Reason
from sincro.text_pt import REGION_OF_UF

Level = Literal["location", "uf", "dc_region", "online", "total"]
LEVELS: tuple[str, ...] = ("location", "uf", "dc_region", "online", "total")


@dataclass(frozen=True, slots=True)
class DemandDay:
    sku: str
    key: str  # location code, UF, region name, "online" or "total"
    day: dt.date
    units: int
    censored: bool


def _zones(session: Session) -> dict[int, ZoneInfo]:
    places = catalog.directory(session).places
    return {p.id: ZoneInfo(p.time_zone) for p in places}


def roll_up(session: Session, limit: int = 5000) -> int:
    """Roll the next ``limit`` ledger rows into the daily history; returns rows looked at."""
    position = repo.cursor_position(session, lock=True)
    rows = repo.movements_after(session, position, limit)
    if not rows:
        return 0
    zones = _zones(session)
    sold: dict[tuple[int, int, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    touched: set[tuple[int, int]] = set()
    for row in rows:
        is_sale = row.bucket == Bucket.on_hand.value and row.reason == Reason.sale.value
        is_online = row.bucket == Bucket.reserved.value and row.reason == Reason.commit.value
        if not (is_sale or is_online):
            continue
        zone = zones.get(row.location_id)
        day = row.occurred_at.astimezone(zone).date() if zone else row.occurred_at.date()
        entry = sold[(row.product_id, row.location_id, day)]
        entry[0 if is_sale else 1] -= row.quantity
        touched.add((row.product_id, row.location_id))
    repo.add_sales(
        session,
        [
            {"product_id": p, "location_id": loc, "day": day, "units": u, "online_units": o}
            for (p, loc, day), (u, o) in sorted(sold.items())
        ],
    )
    _mark(session, repo.out_of_stock_pairs(session, touched), zones)
    repo.move_cursor(session, rows[-1].id)
    return len(rows)


def _mark(session: Session, pairs: Sequence[tuple[int, int]], zones: dict[int, ZoneInfo]) -> int:
    now = utcnow()
    rows = [
        {
            "product_id": p,
            "location_id": loc,
            "day": now.astimezone(zones[loc]).date() if loc in zones else now.date(),
        }
        for p, loc in pairs
    ]
    repo.mark_stockouts(session, rows)
    return len(rows)


def mark_stockouts(session: Session) -> int:
    """Mark today (local) censored for every level with nothing sellable now."""
    return _mark(session, repo.out_of_stock_pairs(session), _zones(session))


def load_history(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk load days (``product_id, location_id, day, units, online_units, stockout``) for a
    demo operator or a migration from another system; the caller makes sure they are new."""
    repo.load_days(session, rows)


def _key_of(level: str, place: Any) -> str:
    if level == "location":
        return str(place.code)
    if level == "uf":
        return str(place.state)
    if level == "dc_region":
        return REGION_OF_UF.get(place.state, "Outros")  # DC regions: macro-regions
    return level  # "online" and "total"


def daily_demand(
    session: Session,
    *,
    level: Level = "location",
    skus: Iterable[str] | None = None,
    locations: Iterable[str] | None = None,
    start: dt.date,
    end: dt.date,
) -> list[DemandDay]:
    """Daily demand at ``level`` between ``start`` and ``end`` (inclusive), days without sales
    left out (a reader fills them with zeros, except censored ones which are always present).
    ``online`` counts only online units; other levels count every unit."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    product_ids = catalog.product_ids(session, skus) if skus is not None else None
    places = {p.id: p for p in catalog.directory(session).places}
    location_ids = None
    if locations is not None:
        wanted = set(locations)
        location_ids = [p.id for p in places.values() if p.code in wanted]
    rows = repo.days(
        session,
        product_ids=None if product_ids is None else list(product_ids.values()),
        location_ids=location_ids,
        start=start,
        end=end,
    )
    skus_by_id = catalog.skus_by_id(session, {r.product_id for r in rows})
    merged: dict[tuple[str, str, dt.date], list[int]] = {}
    for r in rows:
        place = places.get(r.location_id)
        if place is None:
            continue
        units = r.online_units if level == "online" else r.units
        if level == "online" and not units and not r.stockout:
            continue
        key = (skus_by_id.get(r.product_id, str(r.product_id)), _key_of(level, place), r.day)
        entry = merged.setdefault(key, [0, 0])
        entry[0] += max(0, units)
        entry[1] = entry[1] or int(r.stockout)
    return [
        DemandDay(sku=sku, key=key, day=day, units=u, censored=bool(c))
        for (sku, key, day), (u, c) in sorted(merged.items())
    ]


def history_span(session: Session) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of history kept."""
    return repo.history_span(session)
