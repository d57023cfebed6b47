"""Answers of the catalog read recently, for callers that ask the same small questions many
times a second (the assistant: a product's name and category, the plans and promotions in
force). Kept per engine for a few seconds, like the location directory, and only once the
transaction that read them commits (a transaction's own uncommitted writes are never shared);
within the transaction that read them, asked again, they cost nothing either."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sincro.db import on_commit

T = TypeVar("T")
_PENDING = "catalog.recent"


class Recent:
    """Values by key per engine, each kept ``ttl`` seconds; at most ``size`` per engine (a
    full one starts over). ``None`` is never kept."""

    def __init__(self, ttl: float, size: int = 2048) -> None:
        self.ttl, self.size = ttl, size
        self._kept: weakref.WeakKeyDictionary[Engine, dict[Hashable, tuple[float, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._generation = 0

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        engine = session.get_bind().engine
        kept = self._kept.get(engine)
        hit = kept.get(key) if kept is not None else None
        if hit is not None and time.monotonic() - hit[0] <= self.ttl:
            return hit[1]
        if (self, key) in _pending(session):
            return _pending(session)[self, key]
        generation, loaded_at = self._generation, time.monotonic()
        value = load()
        if value is not None:  # the transaction has begun now, if it had not
            _pending(session)[self, key] = value
            on_commit(session, lambda: self._keep(engine, key, loaded_at, value, generation))
        return value

    def forget_on_commit(self, session: Session) -> None:
        """The session's transaction changes what is kept: forget it now and once it commits
        (until then other transactions may read and keep the old answers again)."""
        self.forget()
        on_commit(session, self.forget)

    def _keep(self, engine: Engine, key: Hashable, at: float, value: Any, generation: int) -> None:
        with self._lock:
            if generation != self._generation:  # forgotten since it was read
                return
            kept = self._kept.setdefault(engine, {})
            if len(kept) >= self.size:
                kept.clear()
            kept[key] = (at, value)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._kept.clear()


def _pending(session: Session) -> dict[tuple[Recent, Hashable], Any]:
    """What the session's current transaction has read (not shared before it commits)."""
    transaction = session.get_transaction()
    held = session.info.get(_PENDING)
    if held is None or held[0] is not transaction:
        held = session.info[_PENDING] = (transaction, {})
    return held[1]


#: the catalog's recent answers (products' names and categories, offers in force)
RECENT = Recent(ttl=10.0)
