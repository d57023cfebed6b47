"""All SQL of forecast runs, chunks, series results, stored forecasts and the registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sincro.db import insert_rows, utcnow
from sincro.forecasting.models import (
    ForecastChunk,
    ForecastErrorPool,
    ForecastPromotion,
    ForecastRun,
    ForecastSeries,
    ForecastValue,
)


def add_chunks(session: Session, run_id: int, chunks: Sequence[list[str]]) -> None:
    insert_rows(
        session,
        ForecastChunk.__table__,  # type: ignore[arg-type]
        [
            {
                "run_id": run_id,
                "number": n,
                "skus": skus,
                "status": "pending",
                "series": 0,
                "seconds": 0.0,
            }
            for n, skus in enumerate(chunks)
        ],
    )


def claim_chunk(
    session: Session, run_id: int, number: int, worker: str, lease: dt.timedelta
) -> ForecastChunk | None:
    """Take a chunk that is pending or whose lease ran out (one statement: two workers never
    both win); None when it is done or another worker holds it."""
    now = utcnow()
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ForecastChunk)
        .where(
            ForecastChunk.run_id == run_id,
            ForecastChunk.number == number,
            or_(
                ForecastChunk.status == "pending",
                and_(ForecastChunk.status == "running", ForecastChunk.lease_until < now),
            ),
        )
        .values(status="running", lease_until=now + lease, worker=worker[:120])
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return None
    return session.get(ForecastChunk, (run_id, number), populate_existing=True)


def finish_chunk(session: Session, run_id: int, number: int, series: int, seconds: float) -> bool:
    """Mark a chunk done and count it into its run, once (False when it already was)."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ForecastChunk)
        .where(
            ForecastChunk.run_id == run_id,
            ForecastChunk.number == number,
            ForecastChunk.status != "done",
        )
        .values(status="done", series=series, seconds=seconds, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    session.execute(
        update(ForecastRun)
        .where(ForecastRun.id == run_id)
        .values(
            chunks_done=ForecastRun.chunks_done + 1,
            series_done=ForecastRun.series_done + series,
        )
        .execution_options(synchronize_session=False)
    )
    return True


def clear_chunk_output(session: Session, run_id: int, skus: Sequence[str], number: int) -> None:
    """Remove what an interrupted attempt of a chunk may have left (same run and SKUs)."""
    for model in (ForecastValue, ForecastSeries):
        session.execute(delete(model).where(model.run_id == run_id, model.sku.in_(list(skus))))
    session.execute(
        delete(ForecastErrorPool).where(
            ForecastErrorPool.run_id == run_id, ForecastErrorPool.number == number
        )
    )


def unfinished_chunks(session: Session, run_id: int) -> list[int]:
    now = utcnow()
    return list(
        session.scalars(
            select(ForecastChunk.number)
            .where(
                ForecastChunk.run_id == run_id,
                or_(
                    ForecastChunk.status == "pending",
                    and_(ForecastChunk.status == "running", ForecastChunk.lease_until < now),
                ),
            )
            .order_by(ForecastChunk.number)
        )
    )


def write_series(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(session, ForecastSeries.__table__, rows)  # type: ignore[arg-type]


def write_values(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(session, ForecastValue.__table__, rows)  # type: ignore[arg-type]


def series_of(session: Session, run_id: int) -> Sequence[ForecastSeries]:
    return session.scalars(select(ForecastSeries).where(ForecastSeries.run_id == run_id)).all()


def values(
    session: Session, run_id: int, sku: str, key: str, horizon: int
) -> Sequence[ForecastValue]:
    return session.scalars(
        select(ForecastValue)
        .where(ForecastValue.run_id == run_id, ForecastValue.sku == sku, ForecastValue.key == key)
        .order_by(ForecastValue.day)
        .limit(horizon)
    ).all()


def series_one(session: Session, run_id: int, sku: str, key: str) -> ForecastSeries | None:
    return session.get(ForecastSeries, (run_id, sku, key))


def runs(session: Session, limit: int, offset: int) -> tuple[Sequence[ForecastRun], int]:
    total = int(session.scalar(select(func.count()).select_from(ForecastRun)) or 0)
    rows = session.scalars(
        select(ForecastRun).order_by(ForecastRun.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def live_promotion(session: Session, level: str) -> ForecastPromotion | None:
    return session.scalars(
        select(ForecastPromotion)
        .where(ForecastPromotion.level == level, ForecastPromotion.rolled_back_at.is_(None))
        .order_by(ForecastPromotion.id.desc())
        .limit(1)
    ).first()


def promotions(session: Session, level: str | None = None) -> Sequence[ForecastPromotion]:
    query = select(ForecastPromotion).order_by(ForecastPromotion.id.desc())
    if level is not None:
        query = query.where(ForecastPromotion.level == level)
    return session.scalars(query.limit(200)).all()


def write_pools(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(ForecastErrorPool), list(rows))


def pools(session: Session, run_id: int) -> dict[str, list[list[float | None]]]:
    """Every chunk's error paths of a run, by pattern."""
    out: dict[str, list[list[float | None]]] = {}
    for pool in session.scalars(
        select(ForecastErrorPool).where(ForecastErrorPool.run_id == run_id)
    ):
        out.setdefault(pool.pattern, []).extend(pool.paths)
    return out


def series_at(session: Session, run_id: int, key: str) -> Sequence[ForecastSeries]:
    return session.scalars(
        select(ForecastSeries).where(ForecastSeries.run_id == run_id, ForecastSeries.key == key)
    ).all()


def values_at(session: Session, run_id: int, key: str) -> Sequence[ForecastValue]:
    return session.scalars(
        select(ForecastValue)
        .where(ForecastValue.run_id == run_id, ForecastValue.key == key)
        .order_by(ForecastValue.sku, ForecastValue.day)
    ).all()


def keys_of(session: Session, run_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ForecastSeries.key)
            .where(ForecastSeries.run_id == run_id)
            .distinct()
            .order_by(ForecastSeries.key)
        )
    )
