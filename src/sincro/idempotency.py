"""Idempotency keys for write endpoints.

The record is inserted *before* the work, in the same transaction. A concurrent request with
the same key blocks on the unique index until the first commits, then fails and replays the
stored response; a request with the same key but another body is rejected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro.db import Base, UTCDateTime, utcnow
from sincro.errors import InvalidInput


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


def request_hash(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )


def check_replay(record: IdempotencyRecord, digest: str) -> tuple[int, Any]:
    if record.request_hash != digest:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used with a different request body",
            field="Idempotency-Key",
        )
    return record.status_code, record.response


def claim(session: Session, scope: str, key: str, digest: str) -> IdempotencyRecord:
    """Insert the record for this key (flushes: a concurrent twin blocks or fails here)."""
    if not key or len(key) > 200:
        raise InvalidInput("Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key")
    record = IdempotencyRecord(scope=scope, key=key, request_hash=digest)
    session.add(record)
    session.flush()
    return record


def store(record: IdempotencyRecord, status_code: int, response: Any) -> None:
    record.status_code = status_code
    record.response = response
