"""A circuit breaker per ERP source, shared by every worker process.

closed --N consecutive failures--> open --open_seconds--> half-open: exactly one caller gets a
probe (the others fail fast); the probe's success closes the breaker, its failure opens it
again. A probe that never reports (its process died) is replaced after ``probe_lease`` seconds.

Two stores behind one interface: Redis (one Lua script per operation, so each check-and-change
is atomic; server time) when ``settings.redis_url`` is set, else the ``circuit_breakers``
table with conditional single-statement updates (atomic on SQLite and PostgreSQL alike).
Opening raises a ``breaker_open`` alert; closing resolves it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.models import BreakerState
from sincro.db import Database, utcnow

log = logging.getLogger("sincro.connectors.breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class BreakerOpen(Exception):
    """The source's breaker is open (or half-open with its probe already out)."""

    def __init__(self, source: str, state: str, retry_at: dt.datetime | None) -> None:
        when = f" until {retry_at.isoformat(timespec='seconds')}" if retry_at else ""
        super().__init__(f"circuit breaker of source {source!r} is {state}{when}: call not made")
        self.source, self.state, self.retry_at = source, state, retry_at


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; ``probe`` when it is the half-open breaker's single probe."""

    probe: bool = False
    failures_seen: int = 0


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    state: str
    failures: int
    opened_at: dt.datetime | None


Callback = Callable[[str, BreakerSnapshot], None]


class CircuitBreaker(ABC):
    def __init__(
        self,
        source: str,
        failure_threshold: int,
        open_seconds: float,
        probe_lease: float = 30.0,
        on_open: Callback | None = None,
        on_close: Callback | None = None,
    ) -> None:
        self.source = source
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.probe_lease = probe_lease
        self.on_open, self.on_close = on_open, on_close

    @abstractmethod
    def allow(self) -> Permit:
        """A permit for one call, or :class:`BreakerOpen`."""

    @abstractmethod
    def _failure(self, permit: Permit) -> bool:
        """Count a failure; True when this call opened (or re-opened) the breaker."""

    @abstractmethod
    def _success(self, permit: Permit) -> bool:
        """Count a success; True when this call closed the breaker."""

    @abstractmethod
    def snapshot(self) -> BreakerSnapshot: ...

    @abstractmethod
    def reset(self) -> None: ...

    def record_failure(self, permit: Permit) -> None:
        if self._failure(permit):
            log.warning("breaker of %s opened", self.source)
            self._notify(self.on_open)

    def record_success(self, permit: Permit) -> None:
        if self._success(permit):
            log.info("breaker of %s closed", self.source)
            self._notify(self.on_close)

    def _notify(self, callback: Callback | None) -> None:
        if callback is None:
            return
        try:
            callback(self.source, self.snapshot())
        except Exception:
            log.exception("breaker callback failed for %s", self.source)


# --- Redis ---------------------------------------------------------------------------------

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
_ALLOW = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'probe_until')
local state = s[1] or 'closed'
if state == 'closed' then return {'allow', s[2] or '0'} end
if state == 'open' then
  local retry = tonumber(s[3]) + tonumber(ARGV[1])
  if now < retry then return {'open', tostring(retry)} end
  local lease = tostring(now + tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', lease)
  return {'probe', '0'}
end
if now < tonumber(s[4]) then return {'half_open', s[4]} end
redis.call('HSET', KEYS[1], 'probe_until', tostring(now + tonumber(ARGV[2])))
return {'probe', '0'}
"""
)
_FAILURE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then
  local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if n >= tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now))
    return 1
  end
  return 0
end
if state == 'half_open' and ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now), 'probe_until', '0')
  return 1
end
return 0
"""
)
_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then redis.call('HSET', KEYS[1], 'failures', 0) return 0 end
if state == 'half_open' and ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
  redis.call('HSET', KEYS[1], 'opened_at', '0', 'probe_until', '0')
  return 1
end
return 0
"""


def _from_epoch(value: Any) -> dt.datetime | None:
    seconds = float(value or 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


class RedisBreaker(CircuitBreaker):
    """Breaker state in one Redis hash, ``<prefix>breaker:<source>``."""

    def __init__(self, client: Any, prefix: str, source: str, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.redis = client
        self.key = f"{prefix}breaker:{source}"
        self._allow = client.register_script(_ALLOW)
        self._fail = client.register_script(_FAILURE)
        self._ok = client.register_script(_SUCCESS)

    def allow(self) -> Permit:
        verdict, value = self._allow(keys=[self.key], args=[self.open_seconds, self.probe_lease])
        verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
        if verdict == "allow":
            return Permit(probe=False, failures_seen=int(value))
        if verdict == "probe":
            return Permit(probe=True)
        raise BreakerOpen(self.source, verdict, _from_epoch(value))

    def _failure(self, permit: Permit) -> bool:
        args = [self.failure_threshold, "1" if permit.probe else "0"]
        return bool(self._fail(keys=[self.key], args=args))

    def _success(self, permit: Permit) -> bool:
        return bool(self._ok(keys=[self.key], args=["1" if permit.probe else "0"]))

    def snapshot(self) -> BreakerSnapshot:
        raw = self.redis.hgetall(self.key)
        data = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
        state = data.get("state", b"closed")
        return BreakerSnapshot(
            state=state.decode() if isinstance(state, bytes) else state,
            failures=int(data.get("failures", 0)),
            opened_at=_from_epoch(data.get("opened_at")),
        )

    def reset(self) -> None:
        self.redis.delete(self.key)


# --- database ------------------------------------------------------------------------------

B = BreakerState


def _changed(session: Any, statement: Any) -> int:
    """Rows changed by a conditional UPDATE (1: this caller won the transition)."""
    result: CursorResult[Any] = session.execute(statement)
    return int(result.rowcount or 0)


class DatabaseBreaker(CircuitBreaker):
    """Breaker state in the ``circuit_breakers`` table (embedded mode, no Redis)."""

    def __init__(self, db: Database, source: str, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.db = db

    def _row(self) -> BreakerSnapshot | tuple[str, int, dt.datetime | None, dt.datetime | None]:
        with self.db.read() as session:
            row = session.execute(
                select(B.state, B.failures, B.opened_at, B.probe_until).where(
                    B.source == self.source
                )
            ).first()
        return (CLOSED, 0, None, None) if row is None else tuple(row)  # type: ignore[return-value]

    def _ensure(self, session: Any) -> None:
        module = postgresql if self.db.write_engine.dialect.name == "postgresql" else sqlite
        now = utcnow()
        session.execute(
            module.insert(B)
            .values(source=self.source, state=CLOSED, failures=0, updated_at=now)
            .on_conflict_do_nothing()
        )

    def allow(self) -> Permit:
        state, failures, opened_at, probe_until = self._row()  # type: ignore[misc]
        if state == CLOSED:
            return Permit(probe=False, failures_seen=failures)
        now = utcnow()
        if state == OPEN:
            assert opened_at is not None
            retry_at = opened_at + dt.timedelta(seconds=self.open_seconds)
            if now < retry_at:
                raise BreakerOpen(self.source, OPEN, retry_at)
            condition = (B.state == OPEN) & (
                B.opened_at <= now - dt.timedelta(seconds=self.open_seconds)
            )
        else:
            if probe_until is not None and now < probe_until:
                raise BreakerOpen(self.source, HALF_OPEN, probe_until)
            condition = (B.state == HALF_OPEN) & (B.probe_until.is_(None) | (B.probe_until <= now))
        lease = now + dt.timedelta(seconds=self.probe_lease)
        with self.db.write() as session:
            won = _changed(
                session,
                update(B)
                .where(B.source == self.source, condition)
                .values(state=HALF_OPEN, probe_until=lease, updated_at=now),
            )
        if won == 1:
            return Permit(probe=True)
        raise BreakerOpen(self.source, HALF_OPEN, lease)  # another caller took the probe

    def _failure(self, permit: Permit) -> bool:
        now = utcnow()
        with self.db.write() as session:
            self._ensure(session)
            if permit.probe:
                return bool(
                    _changed(
                        session,
                        update(B)
                        .where(B.source == self.source, B.state == HALF_OPEN)
                        .values(state=OPEN, opened_at=now, probe_until=None, updated_at=now),
                    )
                )
            opens = B.failures + 1 >= self.failure_threshold
            row = session.execute(
                update(B)
                .where(B.source == self.source, B.state == CLOSED)
                .values(
                    failures=B.failures + 1,
                    state=case((opens, OPEN), else_=B.state),
                    opened_at=case((opens, now), else_=B.opened_at),
                    updated_at=now,
                )
                .returning(B.state)
            ).first()
            return row is not None and row[0] == OPEN

    def _success(self, permit: Permit) -> bool:
        if not permit.probe and permit.failures_seen == 0:
            return False  # nothing to reset: spare a write transaction per call
        now = utcnow()
        with self.db.write() as session:
            if permit.probe:
                return bool(
                    session.execute(
                        update(B)
                        .where(B.source == self.source, B.state == HALF_OPEN)
                        .values(
                            state=CLOSED,
                            failures=0,
                            opened_at=None,
                            probe_until=None,
                            updated_at=now,
                        )
                    )
                )
            session.execute(
                update(B)
                .where(B.source == self.source, B.state == CLOSED, B.failures > 0)
                .values(failures=0, updated_at=now)
            )
            return False

    def snapshot(self) -> BreakerSnapshot:
        state, failures, opened_at, _ = self._row()  # type: ignore[misc]
        return BreakerSnapshot(state=state, failures=failures, opened_at=opened_at)

    def reset(self) -> None:
        with self.db.write() as session:
            session.execute(delete(B).where(B.source == self.source))


# --- wiring --------------------------------------------------------------------------------

_redis_clients: dict[str, Any] = {}


def redis_client(url: str) -> Any:
    """One client per URL for this process (timeouts and a blocking pool: see
    :func:`sincro.sharedstate.redis_client`)."""
    if url not in _redis_clients:
        from sincro.sharedstate import redis_client as new_client

        _redis_clients[url] = new_client(url)
    return _redis_clients[url]


def alert_callbacks(db: Database) -> tuple[Callback, Callback]:
    """Record ``breaker_open`` alerts when a breaker opens; resolve them when it closes."""

    def opened(source: str, snap: BreakerSnapshot) -> None:
        with db.write() as session:
            raise_alert(
                session,
                "breaker_open",
                f"Origem {source}: disjuntor aberto após falhas consecutivas; chamadas "
                "suspensas até uma sondagem bem-sucedida.",
                source=source,
                severity="critical",
                details={"failures": snap.failures},
                dedupe_key=f"breaker_open:{source}",
            )

    def closed(source: str, snap: BreakerSnapshot) -> None:
        with db.write() as session:
            resolve_alerts(session, f"breaker_open:{source}")

    return opened, closed


def breaker_for(
    redis_url: str,
    redis_prefix: str,
    db: Database,
    source: str,
    *,
    failure_threshold: int,
    open_seconds: float,
    probe_lease: float = 30.0,
    alerts: bool = True,
) -> CircuitBreaker:
    """The shared breaker of a source: Redis when configured, else the database."""
    on_open, on_close = alert_callbacks(db) if alerts else (None, None)
    kwargs: dict[str, Any] = {
        "failure_threshold": failure_threshold,
        "open_seconds": open_seconds,
        "probe_lease": probe_lease,
        "on_open": on_open,
        "on_close": on_close,
    }
    if redis_url:
        return RedisBreaker(redis_client(redis_url), redis_prefix, source, **kwargs)
    return DatabaseBreaker(db, source, **kwargs)


def wait_time(breaker: CircuitBreaker) -> float:
    """Seconds until an open breaker lets a probe through (0 when it would now)."""
    snap = breaker.snapshot()
    if snap.state != OPEN or snap.opened_at is None:
        return 0.0
    return max(0.0, breaker.open_seconds - (time.time() - snap.opened_at.timestamp()))
