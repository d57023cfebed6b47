"""Sales history for forecasting: the ledger rolled up into daily aggregates per SKU x
location, on the location's LOCAL day, with the online part and censored (stock-out) days.

- :func:`roll_up` reads the ledger after a cursor: an on-hand ``sale`` movement is units sold
  at its location (a till sale, or an online order's commit shipped from there); a reserved
  ``commit`` movement is the online part of it. Returns count negatively (a return adds back).
  The cursor and the days move in one transaction, so a crash repeats nothing.
- :func:`mark_stockouts` marks today's local day censored for every level with nothing
  sellable (run every few minutes by beat, and by the roll-up for the levels a sale touched);
  a censored day's sales are a floor on demand, not the demand.
- :func:`daily_demand` reads the days at the level forecasting asks for (location, UF,
  DC region, online, or the SKU total) as a pandas frame aggregated in C, not row by row; a
  day of an aggregate is censored when any of its locations was.

History is kept as daily aggregates: the forecasting domain never reads the ledger itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.inventory import history_repository as repo
from sincro.inventory.models import Bucket, Reason
from sincro.text_pt import REGION_OF_UF

Level = Literal["location", "uf", "dc_region", "online", "total"]
LEVELS: tuple[str, ...] = ("location", "uf", "dc_region", "online", "total")


def _zones(session: Session) -> dict[int, ZoneInfo]:
    places = catalog.directory(session).places
    return {p.id: ZoneInfo(p.time_zone) for p in places}


def has_movements_to_roll_up(session: Session) -> bool:
    """Is a ledger row past the roll-up's position? (The roll-up task's gate in beat.)"""
    return bool(repo.movements_after(session, repo.cursor_position(session), 1))


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


COLUMNS = ("sku", "key", "day", "units", "censored")


def daily_demand(
    session: Session,
    *,
    level: str = "location",
    skus: Iterable[str] | None = None,
    locations: Iterable[str] | None = None,
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """Daily demand at ``level`` between ``start`` and ``end`` (inclusive), as a frame with
    columns ``sku, key, day, units, censored`` sorted by sku, key, day. ``key`` is the location
    code, UF, region name, ``"online"`` or ``"total"``. Days without sales are left out (a
    reader fills them with zeros); censored days are always present. ``online`` counts only
    online units; other levels every unit. History kept per UF joins every level but
    ``location`` (and is left out when ``locations`` narrows the read)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    ids = None if skus is None else list(catalog.product_ids(session, skus).values())
    places = catalog.directory(session).places
    location_ids = None
    if locations is not None:
        wanted = set(locations)
        location_ids = [p.id for p in places if p.code in wanted]
    frames = []
    columns = ["product_id", "where", "day", "units", "online_units", "stockout"]
    rows = repo.days(session, product_ids=ids, location_ids=location_ids, start=start, end=end)
    if rows:
        per_location = pd.DataFrame.from_records(rows, columns=columns)
        if level == "location":
            keys = {p.id: p.code for p in places}
        else:
            keys = {p.id: p.state for p in places}
        per_location["where"] = per_location["where"].map(keys)
        frames.append(per_location.dropna(subset=["where"]))
    if level != "location" and locations is None:
        uf_rows = repo.uf_days(session, product_ids=ids, start=start, end=end)
        if uf_rows:
            frames.append(pd.DataFrame.from_records(uf_rows, columns=columns))
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    if level == "online":
        frame["units"] = frame["online_units"]
        frame = frame[(frame["units"] != 0) | frame["stockout"].astype(bool)]
    if level in ("location", "uf"):
        frame["key"] = frame["where"]
    elif level == "dc_region":  # the DC regions are the macro-regions
        frame["key"] = frame["where"].map(REGION_OF_UF).fillna("Outros")
    else:
        frame["key"] = level
    frame["units"] = frame["units"].clip(lower=0)
    frame["censored"] = frame["stockout"].astype(bool)
    out = frame.groupby(["product_id", "key", "day"], as_index=False, sort=False).agg(
        units=("units", "sum"), censored=("censored", "any")
    )
    sku_of = catalog.skus_by_id(session, out["product_id"].unique().tolist())
    out["sku"] = out["product_id"].map(sku_of)
    out["day"] = pd.to_datetime(out["day"]).dt.date
    out["units"] = out["units"].astype("int64")
    return out.sort_values(["sku", "key", "day"], ignore_index=True)[list(COLUMNS)]


def history_span(session: Session) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of history kept."""
    return repo.history_span(session)
