"""Idempotency keys for write endpoints, and the runner every such endpoint uses.

The record is inserted *before* the work, in the same transaction. A concurrent request with
the same key blocks on the unique index until the first commits, then fails and replays the
stored response; a request with the same key but another body is rejected (422
``idempotency_key_reused``). A failed request rolls back its record, so a retry runs again.

An endpoint takes the header as :data:`IdempotencyKeyHeader` (optional) or
:data:`RequiredIdempotencyKey` and hands its work to :func:`run_idempotent`::

    def work(session: Session) -> dict[str, Any]: ...
    outcome = run_idempotent(state.run_write, f"movements:{key.key_id}", idem_key, payload, work)
    return outcome.response()
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Header
from fastapi.responses import Response
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.types import Send

from sincro.db import Base, UTCDateTime, utcnow
from sincro.errors import InvalidInput

T = TypeVar("T")
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias=HEADER, max_length=MAX_KEY_LENGTH, description="Makes retries harmless"),
]
RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Required; retrying with the same key is harmless",
    ),
]


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
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput("Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key")
    record = IdempotencyRecord(scope=scope, key=key, request_hash=digest)
    session.add(record)
    session.flush()
    return record


def store(record: IdempotencyRecord, status_code: int, response: Any) -> None:
    record.status_code = status_code
    record.response = response


class WriteRunner(Protocol):
    """Runs ``work`` in one write transaction and returns its result (``AppState.run_write``)."""

    def __call__(self, work: Callable[[Session], T], /) -> T: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an idempotent request answers: the stored answer when ``replayed``. ``encoded``,
    when given, is ``orjson.dumps(body)`` already made (the lean path encodes it once for its
    statement and its answer)."""

    status_code: int
    body: Any
    replayed: bool
    encoded: bytes | None = field(default=None, compare=False, repr=False)

    def response(self) -> Response:
        """The JSON response, with ``Idempotent-Replayed: true`` on a replay."""
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return Response(
            self._encoded(),
            status_code=self.status_code,
            media_type="application/json",
            headers=headers,
        )

    async def send(self, send: Send) -> None:
        """:meth:`response` straight to an ASGI ``send``: the same two messages, byte for
        byte, without a Starlette ``Response`` and its header handling (for fast routes)."""
        body = self._encoded()
        headers = [_REPLAYED] if self.replayed else []
        if not (self.status_code < 200 or self.status_code in (204, 304)):
            headers.append((b"content-length", str(len(body)).encode()))
        headers.append(_JSON)
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _encoded(self) -> bytes:
        return orjson.dumps(self.body) if self.encoded is None else self.encoded


_REPLAYED = (b"idempotent-replayed", b"true")
_JSON = (b"content-type", b"application/json")


def run_idempotent(
    run_write: WriteRunner,
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[Session], Any],
    status: int = 200,
) -> Outcome:
    """Run ``work(session)`` once per (``scope``, ``key``): the first request claims the key
    and stores ``work``'s JSON result in the same transaction; later ones with the same body
    replay it, with another body fail with :class:`IdempotencyKeyReused`. Without a key the
    work just runs. ``scope`` keeps endpoints and callers apart (e.g. ``movements:<key id>``)."""
    if key is None:
        return Outcome(status, run_write(work), replayed=False)
    digest = request_hash(payload)

    def guarded(session: Session) -> Outcome:
        record = find(session, scope, key)
        if record is not None:
            code, stored = check_replay(record, digest)
            return Outcome(code, stored, replayed=True)
        record = claim(session, scope, key, digest)
        result = work(session)
        store(record, status, result)
        return Outcome(status, result, replayed=False)

    try:
        return run_write(guarded)
    except IntegrityError:  # a concurrent twin committed first: replay its answer
        return run_write(guarded)
