"""All SQL of billing: the receivable notices (one row per receivable and step)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.billing.models import ReceivableNotice
from sincro.db import utcnow


def recorded_steps(session: Session, receivable_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = sorted(set(receivable_ids))
    out: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(ReceivableNotice.receivable_id, ReceivableNotice.step).where(
                ReceivableNotice.receivable_id.in_(ids[start : start + 1000])
            )
        )
        for receivable_id, step in rows:
            out[receivable_id].add(step)
    return out


def claim_step(
    session: Session,
    receivable_id: int,
    customer_id: int,
    step: str,
    status: str,
    local_date: dt.date,
) -> bool:
    """Record a step if nobody has: ``INSERT … ON CONFLICT DO NOTHING RETURNING``. A concurrent
    claimer of the same step waits on the unique index (PostgreSQL) or the database lock
    (SQLite) and, once the first commits, gets nothing back."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(ReceivableNotice)
        .values(
            receivable_id=receivable_id,
            customer_id=customer_id,
            step=step,
            status=status,
            local_date=local_date,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["receivable_id", "step"])
        .returning(ReceivableNotice.id)
    )
    return session.execute(stmt).first() is not None


def set_status(session: Session, receivable_id: int, step: str, status: str) -> None:
    session.execute(
        update(ReceivableNotice)
        .where(ReceivableNotice.receivable_id == receivable_id, ReceivableNotice.step == step)
        .values(status=status)
    )


def notices_for(session: Session, receivable_ids: Iterable[int]) -> list[ReceivableNotice]:
    ids = sorted(set(receivable_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(ReceivableNotice)
            .where(ReceivableNotice.receivable_id.in_(ids))
            .order_by(ReceivableNotice.receivable_id, ReceivableNotice.id)
        )
    )


def notices_per_day(session: Session, since: dt.datetime) -> list[tuple[dt.date, str, int]]:
    """(local date, status, count) of the notices recorded since ``since``."""
    rows = session.execute(
        select(ReceivableNotice.local_date, ReceivableNotice.status, func.count())
        .where(ReceivableNotice.created_at >= since)
        .group_by(ReceivableNotice.local_date, ReceivableNotice.status)
        .order_by(ReceivableNotice.local_date)
    )
    return [(day, status, int(n)) for day, status, n in rows]
