"""API keys, console users and rate limits (in process and shared through Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.access.ratelimit import SharedStateRateLimiter, lease_size
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from sincro.sharedstate import DatabaseSharedState, RedisSharedState
from tests.factories import make_location, make_product
from tests.services import REDIS_URL, absent


def test_keys_are_stored_hashed_and_checked(db: Database) -> None:
    with db.write() as s:
        key, plaintext = access.create_key(s, "shop", Role.channel)
    assert plaintext.startswith(f"sk_{key.prefix}_")
    assert plaintext.split("_", 2)[2] not in key.secret_hash
    with db.read() as s:
        principal = access.authenticate(s, plaintext)
        assert principal.role == Role.channel
        with pytest.raises(Unauthorized):
            access.authenticate(s, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
        with pytest.raises(Unauthorized, match="malformed"):
            access.authenticate(s, "not-a-key")


def test_revoked_key_is_refused(db: Database) -> None:
    with db.write() as s:
        key, plaintext = access.create_key(s, "old", Role.admin)
    with db.write() as s:
        access.revoke_key(s, key.prefix)
    with db.read() as s, pytest.raises(Unauthorized, match="revoked"):
        access.authenticate(s, plaintext)


def test_store_keys_need_known_locations(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="LJ9")
    with db.write() as s, pytest.raises(InvalidInput):
        access.create_key(s, "x", Role.store, [])
    with db.write() as s, pytest.raises(NotFound, match="NOPE"):
        access.create_key(s, "x", Role.store, ["NOPE"])
    with db.write() as s:
        _, plaintext = access.create_key(s, "x", Role.store, ["LJ9"])
    with db.read() as s:
        principal = access.authenticate(s, plaintext)
    principal.require_location("LJ9")
    with pytest.raises(Forbidden):
        principal.require_location("LJ1")
    with pytest.raises(Forbidden):
        principal.require(Role.channel)


def test_console_passwords(db: Database) -> None:
    with db.write() as s:
        access.create_user(s, "Ana@Loja.com.br", "Ana", "senha-forte-1")
    with db.read() as s:
        assert access.sign_in(s, "ana@loja.com.br", "senha-forte-1").name == "Ana"
        with pytest.raises(Unauthorized):
            access.sign_in(s, "ana@loja.com.br", "errada")
    with db.write() as s, pytest.raises(InvalidInput, match="8 characters"):
        access.create_user(s, "b@x.com", "B", "curta")


def test_token_bucket_allows_a_minute_at_once(db: Database) -> None:
    limiter = SharedStateRateLimiter(DatabaseSharedState(db))
    started = time.monotonic()
    waits = [asyncio.run(limiter.hit(1, 120)) for _ in range(121)]
    elapsed = time.monotonic() - started
    assert waits[:120] == [0.0] * 120  # a burst of one minute's allowance (leases included)
    # then one token every half second: the 121st waits, unless the burst itself took half a
    # second (a loaded machine) and a token came back meanwhile
    assert 0 < waits[120] <= 0.5 or (waits[120] == 0 and elapsed >= 0.5)
    # the same at a rate where no run is that slow: 6 at once, then one every 10 s
    slow = [asyncio.run(limiter.hit(2, 6)) for _ in range(7)]
    assert slow[:6] == [0.0] * 6 and 0 < slow[6] <= 10


@pytest.mark.parametrize("per_minute", [60, 3_000])
def test_leases_never_let_replicas_exceed_the_shared_bucket(db: Database, per_minute: int) -> None:
    shared = DatabaseSharedState(db)
    replicas = [SharedStateRateLimiter(shared) for _ in range(3)]

    async def storm() -> int:
        results = [
            await replicas[i % 3].hit(9, per_minute)
            for i in range(per_minute + 3 * lease_size(per_minute) + 50)
        ]
        return sum(1 for wait in results if wait == 0)

    started = time.monotonic()
    allowed = asyncio.run(storm())
    refilled = (time.monotonic() - started) * per_minute / 60
    assert allowed <= per_minute + refilled + 1, "more than the shared bucket allows"
    assert allowed >= per_minute - 3 * lease_size(per_minute), "leases wasted the budget"


class CountingState(DatabaseSharedState):
    calls = 0

    async def take_async(self, *args: Any, **kwargs: Any) -> float:
        self.calls += 1
        return await super().take_async(*args, **kwargs)


def test_a_high_limit_reaches_the_shared_store_once_per_lease(db: Database) -> None:
    shared = CountingState(db)
    limiter = SharedStateRateLimiter(shared)

    requests = 5 * lease_size(600_000)

    async def run() -> list[float]:
        return [await limiter.hit(3, 600_000) for _ in range(requests)]

    assert set(asyncio.run(run())) == {0.0}
    # five leases for five leases' worth of requests, and a sixth taken ahead once half a
    # lease was left
    assert shared.calls == 5 + 1


def test_concurrent_requests_that_run_out_together_share_one_lease(db: Database) -> None:
    """Five leases' worth of requests at once on one process: one lease in flight at a time,
    the others wait for it and spend from it (before, each took a lease of its own: a round
    trip each, and every lease but the last thrown away)."""
    shared = CountingState(db)
    limiter = SharedStateRateLimiter(shared)

    requests = 5 * lease_size(600_000)

    async def run() -> list[float]:
        return await asyncio.gather(*(limiter.hit(4, 600_000) for _ in range(requests)))

    assert set(asyncio.run(run())) == {0.0}
    assert shared.calls == 5


def test_a_refused_lease_lets_each_waiter_take_its_own_token(db: Database) -> None:
    """A bucket holding less than a lease: the waiters fall back to one token each, so
    exactly what the bucket holds is allowed, no more, no less."""
    shared = DatabaseSharedState(db)
    per_minute = 6_000  # leases of 120
    assert shared.take("api-key:5", per_minute / 60, per_minute, cost=per_minute - 50) == 0
    limiter = SharedStateRateLimiter(shared)

    async def run() -> list[float]:
        return await asyncio.gather(*(limiter.hit(5, per_minute) for _ in range(80)))

    started = time.monotonic()
    allowed = sum(1 for wait in asyncio.run(run()) if wait == 0)
    refilled = (time.monotonic() - started) * per_minute / 60
    assert 50 <= allowed <= 50 + refilled + 1


def test_rate_limit_answers_429_with_retry_after(db: Database, settings: Settings) -> None:
    with db.write() as s:
        make_product(s, sku="RL-1")
        _, plaintext = access.create_key(s, "slow", Role.channel, rate_limit_per_minute=2)
    with TestClient(create_app(settings)) as client:
        codes = [
            client.get("/v1/availability/RL-1", headers={"X-API-Key": plaintext}) for _ in range(3)
        ]
    assert [c.status_code for c in codes[:2]] == [200, 200]  # the burst: a minute's allowance
    limited = codes[-1]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"


def test_redis_rate_limit_is_shared_between_replicas() -> None:
    import redis.asyncio as aioredis

    async def scenario() -> list[float]:
        client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
        prefix = f"sincro-test-{uuid.uuid4().hex[:8]}:"
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            return [-1.0, float(len(str(exc)))]
        try:
            one = SharedStateRateLimiter(RedisSharedState(prefix, async_client=client))
            two = SharedStateRateLimiter(RedisSharedState(prefix, async_client=client))
            # 2 per minute, one bucket for both replicas: the third request waits ~30 s
            return [await one.hit(7, 2), await two.hit(7, 2), await one.hit(7, 2)]
        finally:
            async for key in client.scan_iter(f"{prefix}*"):
                await client.delete(key)
            await client.aclose()

    waits = asyncio.run(scenario())
    if waits[0] == -1.0:
        absent("Redis", REDIS_URL)
    assert waits[:2] == [0.0, 0.0] and 29 < waits[2] <= 30


def _aged(plaintext: str, seconds: float) -> None:
    at, principal = access._key_cache[plaintext]
    access._key_cache[plaintext] = (at - seconds, principal)


def test_a_cached_key_is_claimed_for_a_reread_once_past_half_its_life(db: Database) -> None:
    with db.write() as s:
        _, plaintext = access.create_key(s, "shop", Role.channel)
    assert access.use_cached(plaintext) == (None, False)  # not cached
    with db.read() as s:
        principal = access.authenticate(s, plaintext)
    assert access.use_cached(plaintext) == (principal, False)  # young
    _aged(plaintext, access.KEY_REFRESH_AFTER_SECONDS + 1)
    assert access.use_cached(plaintext) == (principal, True)
    assert access.use_cached(plaintext) == (principal, False)  # one re-read at a time
    with db.read() as s:
        access.refresh_key(s, plaintext)
    assert time.monotonic() - access._key_cache[plaintext][0] < 5  # cached afresh
    assert access.use_cached(plaintext) == (principal, False)
    _aged(plaintext, access.KEY_CACHE_SECONDS + 1)
    assert access.cached_principal(plaintext) is None  # unread, it still expires


def test_a_reread_drops_a_key_revoked_meanwhile_and_a_failed_one_keeps_it(db: Database) -> None:
    with db.write() as s:
        key, plaintext = access.create_key(s, "shop", Role.channel)
    with db.read() as s:
        access.authenticate(s, plaintext)

    class Broken:
        def scalar(self, *args: Any) -> None:
            raise RuntimeError("database away")

    _aged(plaintext, access.KEY_REFRESH_AFTER_SECONDS + 1)
    assert access.use_cached(plaintext)[1]
    with pytest.raises(RuntimeError):
        access.refresh_key(Broken(), plaintext)  # type: ignore[arg-type]
    assert access.cached_principal(plaintext) is not None  # left to expire as before
    assert access.use_cached(plaintext)[1]  # and the claim was let go
    with db.write() as s:
        stored = s.get(type(key), key.id)
        assert stored is not None
        stored.active = False  # revoked elsewhere: this cache is not told
    with db.read() as s:
        access.refresh_key(s, plaintext)
    assert access.cached_principal(plaintext) is None


def test_requests_that_miss_the_key_cache_together_read_the_key_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of requests with a key this process has not cached (its start, or the key
    unused past its cache life): one database read, whose answer — principal or refusal —
    every one of them gets; a waiter cancelled meanwhile does not cancel it for the others."""
    from sincro import deps

    with db.write() as s:
        _, plaintext = access.create_key(s, "shop", Role.channel)
    reads: list[str] = []
    authenticate = deps.authenticate_key

    def counted(database: Database, presented: str) -> access.Principal:
        reads.append(presented)
        time.sleep(0.05)  # long enough for all of them to arrive while it runs
        return authenticate(database, presented)

    monkeypatch.setattr(deps, "authenticate_key", counted)
    state = deps.AppState.__new__(deps.AppState)
    state.db, state.key_reads = db, {}

    async def run(presented: str) -> list[Any]:
        waiters = [asyncio.ensure_future(deps._read_once(state, presented)) for _ in range(300)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        return await asyncio.gather(*waiters[1:], return_exceptions=True)

    access.forget_keys()
    answers = asyncio.run(run(plaintext))
    assert reads == [plaintext]
    assert {a.name for a in answers} == {"shop"} and len(answers) == 299
    assert state.key_reads == {}

    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    answers = asyncio.run(run(wrong))
    assert reads == [plaintext, wrong]
    assert all(isinstance(a, Unauthorized) for a in answers) and len(answers) == 299
    assert state.key_reads == {}

    ended = asyncio.new_event_loop()  # a read whose loop ended before it did
    state.key_reads[plaintext] = ended.create_future()
    ended.close()
    access.forget_keys()
    answers = asyncio.run(run(plaintext))
    assert reads == [plaintext, wrong, plaintext]
    assert {a.name for a in answers} == {"shop"} and state.key_reads == {}
