"""Many ERP-known stock changes at once: a goods-movement file chunk, a page of REST balances.

:func:`inventory.service.apply_movements` changes one level per statement, which is right for
an API request of a few lines and far too slow for an ERP file of thousands (one round trip and
one statement build per line). Here the lines are applied set-based, with the same outcome as
applying them one by one in order:

1. The lines are grouped per level (location, product), in their given order. Per bucket the
   total and the lowest running sum are computed (``min_prefix``, <= 0): applying the lines one
   by one keeps the bucket >= 0 exactly when ``bucket + min_prefix >= 0``.
2. The groups go into a temporary table (COPY on PostgreSQL); expired holds of the products are
   closed first, as everywhere; missing levels are created empty in one INSERT…SELECT.
3. On PostgreSQL the levels are locked in (location, product) order (the order every other
   writer uses, so no deadlock; missing levels are created only when the lock found fewer
   levels than groups, and then the lock is taken again). One ``UPDATE … FROM … WHERE
   bucket + min_prefix >= 0 … RETURNING`` applies every group whose checks pass. ``version``
   grows by the number of lines, as if each line had been its own change.
4. Each line still gets its own ledger row and its own outbox event; the level after each line
   is derived from the returned final level by undoing the later lines of the group.
5. A group refused by the update (some line would take a bucket below zero) is replayed line by
   line with the single-row conditional update, so only the lines that really fall short are
   refused, as :func:`apply_movements` would refuse them one by one.

ERP-known lines are facts already booked in the ERP: they carry ``erp_known_at`` = their
business time and are held only to each bucket staying >= 0 (never to the free-stock rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.db import bulk_insert, sql, utcnow
from sincro.inventory import repository as repo
from sincro.inventory.changes import Changes
from sincro.inventory.models import MAX_LEVEL, Bucket, Reason
from sincro.inventory.repository import LevelRow
from sincro.inventory.reservations import expire_holds

TABLE = "inv_bulk"
# (bucket, delta column, lowest running sum column); reserved never changes from an ERP
_BUCKETS = (
    (Bucket.on_hand, "d_on_hand", "m_on_hand"),
    (Bucket.blocked_quality, "d_quality", "m_quality"),
    (Bucket.blocked_stock, "d_stock", "m_stock"),
    (Bucket.blocked_returns, "d_returns", "m_returns"),
)
_SLOT = {bucket: i for i, (bucket, _, _) in enumerate(_BUCKETS)}
_COLUMNS = ("product_id", "location_id", "n", *[c for _, d, m in _BUCKETS for c in (d, m)])

_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {TABLE} (product_id INTEGER, location_id INTEGER,"
    " n INTEGER, " + ", ".join(f"{c} BIGINT" for c in _COLUMNS[3:]) + ")"
)
_ENSURE = (
    "INSERT INTO stock_levels (product_id, location_id, on_hand, reserved, blocked_quality,"
    " blocked_stock, blocked_returns, safety_stock, version, as_of, updated_at)"
    f" SELECT b.product_id, b.location_id, 0, 0, 0, 0, 0, 0, 0, :now, :now FROM {TABLE} b"
    " WHERE NOT EXISTS (SELECT 1 FROM stock_levels s WHERE s.product_id = b.product_id"
    " AND s.location_id = b.location_id) ORDER BY b.location_id, b.product_id"
    " ON CONFLICT (product_id, location_id) DO NOTHING"
)
_LOCK = (
    f"SELECT s.id FROM stock_levels s JOIN {TABLE} b ON s.product_id = b.product_id"
    " AND s.location_id = b.location_id ORDER BY s.location_id, s.product_id FOR NO KEY UPDATE OF s"
)
_UPDATE = (
    "UPDATE stock_levels SET "
    + ", ".join(
        f"{bucket.value} = stock_levels.{bucket.value} + b.{d}" for bucket, d, _ in _BUCKETS
    )
    + ", version = stock_levels.version + b.n, as_of = :now, updated_at = :now"
    f" FROM {TABLE} b WHERE stock_levels.product_id = b.product_id"
    " AND stock_levels.location_id = b.location_id AND "
    + " AND ".join(f"stock_levels.{bucket.value} + b.{m} >= 0" for bucket, _, m in _BUCKETS)
    # a group that would end past the bound goes line by line, where the increase is refused
    + "".join(
        f" AND stock_levels.{bucket.value} + b.{d} <= {MAX_LEVEL}" for bucket, d, _ in _BUCKETS
    )
    + " RETURNING stock_levels.product_id, stock_levels.location_id, stock_levels.on_hand,"
    " stock_levels.reserved, stock_levels.blocked_quality + stock_levels.blocked_stock"
    " + stock_levels.blocked_returns, stock_levels.safety_stock, stock_levels.version"
)


@dataclass(frozen=True, slots=True)
class ErpLine:
    """One signed change the ERP reported, resolved to ids."""

    product_id: int
    location_id: int
    bucket: Bucket
    quantity: int
    reason: Reason
    occurred_at: dt.datetime  # business time; also when the ERP knew of it
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ShortLine:
    """A line refused because its bucket would go below zero (or past ``MAX_LEVEL``)."""

    index: int
    available: int  # what the bucket held when the line was tried


def apply_erp_lines(
    session: Session,
    source: str,
    lines: Sequence[ErpLine],
    skus: dict[int, str],
    *,
    idempotency_key: str | None = None,
) -> list[ShortLine]:
    """Apply ``lines`` in the caller's transaction; returns the refused lines (the others are
    applied, each with its ledger row and event). ``skus`` maps every product id to its SKU."""
    for line in lines:
        if line.bucket == Bucket.reserved or line.quantity == 0:
            raise ValueError(f"not an ERP stock change: {line}")
    if not lines:
        return []
    now = utcnow()
    groups = _groups(lines)
    conn = session.connection()
    conn.execute(text(_CREATE))
    conn.execute(text(f"DELETE FROM {TABLE}"))
    bulk_insert(conn, TABLE, _COLUMNS, [_summary(key, lines, idx) for key, idx in groups.items()])
    expire_holds(session, product_ids=sorted({p for _, p in groups}), now=now, source=source)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {TABLE}"))  # else planned as ~1,000 rows
        # lock in (location, product) order; create what is missing (rarely) and lock again
        if len(conn.execute(text(_LOCK)).all()) < len(groups):
            conn.execute(sql(_ENSURE, "now"), {"now": now})
            conn.execute(text(_LOCK))
    else:
        conn.execute(sql(_ENSURE, "now"), {"now": now})
    final = {
        (loc, p): LevelRow(p, loc, on_hand, reserved, blocked, safety, version, now)
        for p, loc, on_hand, reserved, blocked, safety, version in conn.execute(
            sql(_UPDATE, "now"), {"now": now}
        ).all()  # one fetch: iterating the cursor fetches row by row
    }
    changes = Changes(session, source, now)
    changes.remember_skus(skus)
    changes.remember_codes(catalog.location_codes(session, {loc for loc, _ in groups}))
    short: list[ShortLine] = []
    for key in sorted(groups):
        indexes = groups[key]
        level = final.get(key)
        if level is None:
            short += _one_by_one(session, changes, lines, indexes, now, idempotency_key)
            continue
        for index, state in zip(indexes, _states(level, lines, indexes), strict=True):
            _record(changes, state, lines[index], idempotency_key)
    changes.flush()
    return sorted(short, key=lambda s: s.index)


def _groups(lines: Sequence[ErpLine]) -> dict[tuple[int, int], list[int]]:
    """Line indexes per (location_id, product_id), in the given order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault((line.location_id, line.product_id), []).append(i)
    return groups


def _summary(key: tuple[int, int], lines: Sequence[ErpLine], indexes: list[int]) -> tuple[int, ...]:
    """(product, location, lines, then per bucket: total, lowest running sum <= 0)."""
    totals = [0] * len(_BUCKETS)
    lowest = [0] * len(_BUCKETS)
    for i in indexes:
        slot = _SLOT[lines[i].bucket]
        totals[slot] += lines[i].quantity
        lowest[slot] = min(lowest[slot], totals[slot])
    return (
        key[1],
        key[0],
        len(indexes),
        *[v for pair in zip(totals, lowest, strict=True) for v in pair],
    )


def _states(level: LevelRow, lines: Sequence[ErpLine], indexes: list[int]) -> list[LevelRow]:
    """The level after each line of its group, derived backwards from the final level."""
    states = [level]
    on_hand, blocked, version = level.on_hand, level.blocked, level.version
    for i in reversed(indexes[1:]):
        line = lines[i]
        if line.bucket == Bucket.on_hand:
            on_hand -= line.quantity
        else:
            blocked -= line.quantity
        version -= 1
        states.append(
            LevelRow(
                level.product_id,
                level.location_id,
                on_hand,
                level.reserved,
                blocked,
                level.safety_stock,
                version,
                level.as_of,
            )
        )
    states.reverse()
    return states


def _one_by_one(
    session: Session,
    changes: Changes,
    lines: Sequence[ErpLine],
    indexes: list[int],
    now: dt.datetime,
    idempotency_key: str | None,
) -> list[ShortLine]:
    """A group the set-based update refused: each line as its own conditional update."""
    short = []
    for i in indexes:
        line = lines[i]
        level = repo.change_bucket(
            session, line.product_id, line.location_id, line.bucket, line.quantity, now
        )
        if level is None:
            current = repo.lock_level(session, line.product_id, line.location_id)
            short.append(ShortLine(i, getattr(current, line.bucket.value, 0) if current else 0))
            continue
        _record(changes, level, line, idempotency_key)
    return short


def _record(changes: Changes, level: LevelRow, line: ErpLine, idempotency_key: str | None) -> None:
    changes.record(
        level,
        line.bucket,
        line.quantity,
        line.reason,
        reference=line.reference,
        idempotency_key=idempotency_key,
        occurred_at=line.occurred_at,
        erp_known_at=line.occurred_at,
    )
