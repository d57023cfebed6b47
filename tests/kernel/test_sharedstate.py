"""Shared state on every backend (Redis, SQLite, PostgreSQL): buckets, windows and locks hold
their promises under threads, event-loop tasks and separate processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sincro.access.ratelimit import SharedStateRateLimiter
from sincro.config import Settings
from sincro.db import Database
from sincro.sharedstate import (
    DatabaseSharedState,
    LockHeld,
    RedisSharedState,
    SharedCounter,
    SharedLock,
    SharedState,
    shared_state_from_settings,
)
from tests.services import REDIS_URL

FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Backend:
    """What a process needs to open the same shared state (picklable)."""

    kind: str
    url: str
    prefix: str = ""

    def open(self) -> SharedState:
        if self.kind == "redis":
            return RedisSharedState.from_url(self.url, self.prefix)
        return DatabaseSharedState(Database(self.url))


def shut(state: SharedState) -> None:
    if isinstance(state, DatabaseSharedState):
        state.db.dispose()
    state.close()


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "redis":
        return Backend("redis", REDIS_URL, request.getfixturevalue("redis_prefix"))
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param]
    return Backend(request.param, request.getfixturevalue(fixture))


@pytest.fixture
def state(backend: Backend) -> Iterator[SharedState]:
    opened = backend.open()
    yield opened
    shut(opened)


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex[:12]


def run_processes(target: Any, count: int, *args: Any) -> tuple[list[Any], float]:
    """Start ``count`` forked processes running ``target(*args, start, results)``, release
    them together; their results and the seconds from the release to the last finish."""
    start, results = FORK.Event(), FORK.Queue()
    workers = [FORK.Process(target=target, args=(*args, start, results)) for _ in range(count)]
    for w in workers:
        w.start()
    began = time.monotonic()
    start.set()
    values = [results.get(timeout=30) for _ in workers]
    elapsed = time.monotonic() - began
    for w in workers:
        w.join(timeout=10)
        assert w.exitcode == 0
    return values, elapsed


# --- token buckets -------------------------------------------------------------------------


def test_bucket_starts_full_then_refills_at_its_rate(state: SharedState, key: str) -> None:
    assert [state.take(key, 10, 3) for _ in range(3)] == [0, 0, 0]
    wait = state.take(key, 10, 3)
    assert 0 < wait <= 0.1
    time.sleep(wait + 0.02)
    assert state.take(key, 10, 3) == 0
    assert state.take(key, 10, 3, cost=2) > 0  # a refused take takes nothing...
    assert 0 < state.take(key, 10, 3, cost=1) <= 0.1  # ...and the bucket is still near empty
    with pytest.raises(ValueError, match="cost <= burst"):
        state.take(key, 10, 3, cost=4)
    state.reset(key)
    assert state.take(key, 10, 3, cost=3) == 0


def _take_many(
    backend: Backend, key: str, takes: int, rate: float, burst: float, start: Any, results: Any
) -> None:
    state = backend.open()
    start.wait()
    results.put(sum(state.take(key, rate, burst) == 0 for _ in range(takes)))


def test_processes_never_take_more_than_burst_plus_refill(backend: Backend, key: str) -> None:
    rate, burst = 20.0, 10.0
    allowed, elapsed = run_processes(_take_many, 8, backend, key, 25, rate, burst)
    assert burst <= sum(allowed) <= burst + rate * elapsed + 1  # 200 takes were tried


def test_event_loop_tasks_share_one_bucket(backend: Backend, key: str) -> None:
    async def scenario() -> list[float]:
        state = backend.open()
        try:
            return await asyncio.gather(*(state.take_async(key, 0.001, 20) for _ in range(60)))
        finally:
            await state.aclose()
            shut(state)

    waits = asyncio.run(scenario())
    assert waits.count(0.0) == 20
    assert all(w > 900 for w in waits if w)  # a token every 1000 s


def test_api_key_limiter_gives_a_minute_at_once_shared_by_replicas(backend: Backend) -> None:
    async def scenario() -> list[float]:
        states = [backend.open(), backend.open()]
        replicas = [SharedStateRateLimiter(s) for s in states]
        try:
            return [await replicas[i % 2].hit(42, 60) for i in range(61)]
        finally:
            for s in states:
                await s.aclose()
                shut(s)

    waits = asyncio.run(scenario())
    assert waits[:60] == [0.0] * 60  # issue #8: a 60/min key is not refused at its 2nd call
    assert 0 < waits[60] <= 1.0


def slow_counted(backend: Backend, taken: list[float], seconds: float = 0.01) -> SharedState:
    """A state of ``backend`` whose every take is recorded in ``taken`` (its cost) and takes
    ``seconds`` more: a round trip during which the rest of a burst arrives."""
    state = backend.open()
    real_take = state.take_async

    async def counted(key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        taken.append(cost)
        await asyncio.sleep(seconds)
        return await real_take(key, rate, burst, cost)

    state.take_async = counted  # type: ignore[method-assign]
    return state


def test_a_burst_shares_one_lease_instead_of_draining_the_key(backend: Backend) -> None:
    """300 requests at once on a 6,000/min key (leases of 120): three leases, not 300. Each
    request taking its own lease would take 36,000 tokens from a bucket of 6,000, and the key
    would be refused long before it had sent its minute's allowance."""
    taken: list[float] = []

    async def scenario() -> list[float]:
        state = slow_counted(backend, taken)
        limiter = SharedStateRateLimiter(state)
        try:
            return list(await asyncio.gather(*(limiter.hit(7, 6_000) for _ in range(300))))
        finally:
            await state.aclose()
            shut(state)

    waits = asyncio.run(scenario())
    assert waits == [0.0] * 300
    assert taken == [120.0, 120.0, 120.0]  # three leases in turn; none of them refused
    assert sum(taken) <= 300 + 120


def test_a_crowd_waits_in_line_and_each_request_is_woken_once(backend: Backend) -> None:
    """1,000 requests at once on a 6,000/min key (leases of 120): nine leases one after
    another, each handing its tokens to the next waiters in line, and each request looks for
    a prepaid token once. When every lease woke every waiter to race for its tokens, each
    request was woken up to nine times (at 3,000 connections that cost more than the read
    the limit guards)."""
    taken: list[float] = []
    looked = 0

    async def scenario() -> list[float]:
        nonlocal looked
        state = slow_counted(backend, taken)
        limiter = SharedStateRateLimiter(state)
        real_spend = limiter._spend

        def spend(key_id: int) -> bool:
            nonlocal looked
            looked += 1
            return real_spend(key_id)

        limiter._spend = spend  # type: ignore[method-assign]
        try:
            return list(await asyncio.gather(*(limiter.hit(7, 6_000) for _ in range(1000))))
        finally:
            await state.aclose()
            shut(state)

    waits = asyncio.run(scenario())
    assert waits == [0.0] * 1000
    assert taken == [120.0] * 9  # 1,080 tokens for 1,000 requests; 80 left prepaid
    assert looked == 1000


def test_spend_takes_tokens_in_hand_without_waiting_and_prefetches_at_half(
    backend: Backend,
) -> None:
    """``spend`` (the read paths' instant check) answers from the tokens this process holds:
    none before the first lease; the rest of a lease one by one, with the next lease's
    prefetch started once half of it is left; then none until the prefetch lands. Every token
    spent was taken from the shared bucket first."""
    granted: list[float] = []

    async def scenario() -> tuple[bool, int, bool, int]:
        state = backend.open()
        real_take = state.take_async

        async def counted(key: str, rate: float, burst: float, cost: float = 1.0) -> float:
            wait = await real_take(key, rate, burst, cost)
            if wait == 0:
                granted.append(cost)
            return wait

        state.take_async = counted  # type: ignore[method-assign]
        limiter = SharedStateRateLimiter(state)
        try:
            before = limiter.spend(7, 6_000)  # leases of 120
            assert await limiter.hit(7, 6_000) == 0.0  # the first lease; one token its own
            spent = 0
            while limiter.spend(7, 6_000):  # no await: the prefetch cannot land meanwhile
                spent += 1
            prefetching = bool(limiter._prefetching)
            later = 0
            while later < 500:
                await asyncio.gather(*limiter._prefetching)
                if not limiter.spend(7, 6_000):
                    break
                later += 1
            return before, spent, prefetching, later
        finally:
            await state.aclose()
            shut(state)

    before, spent, prefetching, later = asyncio.run(scenario())
    assert (before, spent, prefetching, later) == (False, 119, True, 500)
    assert 1 + spent + later <= sum(granted) <= 1 + spent + later + 2 * 120


def test_a_request_cancelled_in_line_leaves_its_token_to_the_next(backend: Backend) -> None:
    """Four requests on a 100/min key (leases of 2), the second cancelled while it waits: the
    first lease serves the first and the third, the fourth takes the next lease; nobody is
    left waiting."""

    async def scenario() -> list[Any]:
        state = backend.open()
        real_take = state.take_async
        gate = asyncio.Event()
        taken: list[float] = []

        async def held(key: str, rate: float, burst: float, cost: float = 1.0) -> float:
            taken.append(cost)
            await gate.wait()
            return await real_take(key, rate, burst, cost)

        state.take_async = held  # type: ignore[method-assign]
        limiter = SharedStateRateLimiter(state)
        try:
            tasks = [asyncio.create_task(limiter.hit(9, 100)) for _ in range(4)]
            await asyncio.sleep(0.05)  # the first takes a lease, three wait in line
            tasks[1].cancel()
            gate.set()
            done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
            return [*done, taken]
        finally:
            await state.aclose()
            shut(state)

    first, second, third, fourth, taken = asyncio.run(scenario())
    assert isinstance(second, asyncio.CancelledError)
    assert (first, third, fourth) == (0.0, 0.0, 0.0)
    assert taken == [2.0, 2.0]


# --- window counters -----------------------------------------------------------------------


def test_concurrent_hits_allow_exactly_the_limit(state: SharedState, key: str) -> None:
    with ThreadPoolExecutor(max_workers=30) as pool:
        waits = list(pool.map(lambda _: state.hit(key, 10, 30), range(150)))
    assert waits.count(0.0) == 10
    assert all(0 < w <= 30 for w in waits if w)


def test_window_restarts_after_it_ends(state: SharedState, key: str) -> None:
    assert state.hit(key, 1, 0.3) == 0
    wait = state.hit(key, 1, 0.3)
    assert 0 < wait <= 0.3
    time.sleep(wait + 0.05)
    assert state.hit(key, 1, 0.3) == 0
    state.reset(key)
    assert state.hit(key, 1, 0.3) == 0


# --- locks ---------------------------------------------------------------------------------


def test_lock_is_owned_and_not_reentrant(state: SharedState, key: str) -> None:
    token = state.acquire(key, 5)
    assert token is not None
    assert state.acquire(key, 5) is None  # not even for the same caller
    assert not state.release(key, "someone-else")
    assert not state.renew(key, "someone-else", 5)
    assert state.renew(key, token, 5)
    with pytest.raises(LockHeld):
        state.lock(key, 5).__enter__()
    assert state.release(key, token)
    assert not state.release(key, token)
    with state.lock(key, 5) as held:
        assert state.acquire(key, 5) is None and held != token
    assert state.acquire(key, 5) is not None


def _count_under_lock(
    backend: Backend, name: str, counter: Path, rounds: int, start: Any, results: Any
) -> None:
    state = backend.open()
    start.wait()
    for _ in range(rounds):
        with state.lock(name, ttl_seconds=5, wait_seconds=20):
            value = int(counter.read_text())
            time.sleep(0.002)  # without the lock, another process would read the same value
            counter.write_text(str(value + 1))
    results.put(rounds)


def test_lock_excludes_other_processes(backend: Backend, key: str, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    done, _ = run_processes(_count_under_lock, 4, backend, key, counter, 8)
    assert int(counter.read_text()) == sum(done) == 32


HELD_SECONDS = 3.0  # long enough that the parent looks while it is held, even on a slow host


def _hold_and_die(backend: Backend, name: str, looked: Any, results: Any) -> None:
    state = backend.open()
    results.put((state.acquire(name, HELD_SECONDS), time.monotonic()))  # one clock for both
    results.close()
    results.join_thread()  # the token has reached the parent
    looked.wait(30)
    os._exit(0)  # dies holding the lock: no release, no clean-up


def test_lock_expires_when_its_holder_dies(backend: Backend, key: str) -> None:
    looked, results = FORK.Event(), FORK.Queue()
    holder = FORK.Process(target=_hold_and_die, args=(backend, key, looked, results))
    holder.start()
    token, acquired_at = results.get(timeout=30)
    state = backend.open()
    try:
        assert token is not None
        assert state.acquire(key, 5) is None  # held: the holder is still alive
        looked.set()
        holder.join(timeout=10)
        assert holder.exitcode == 0
        with state.lock(key, 5, wait_seconds=HELD_SECONDS + 5):
            held = time.monotonic() - acquired_at
            assert HELD_SECONDS - 0.1 < held <= HELD_SECONDS + 2.5  # freed by expiry alone
        assert not state.release(key, token) and not state.renew(key, token, 5)
    finally:
        shut(state)


def test_purge_drops_only_rows_that_mean_nothing(database_url: str, key: str) -> None:
    state = DatabaseSharedState(Database(database_url))  # Redis expires its keys itself
    try:
        state.take(f"{key}-full", 100, 1)  # full again after 10 ms
        state.take(f"{key}-busy", 0.001, 2)
        state.hit(f"{key}-ended", 1, 0.01)
        assert state.acquire(f"{key}-gone", 0.01) and state.acquire(f"{key}-held", 5)
        time.sleep(0.05)
        state.purge()
        with state.db.read() as session:
            counters = session.scalars(select(SharedCounter.key)).all()
            locks = session.scalars(select(SharedLock.name)).all()
        assert {k for k in counters if key in k} == {f"bucket:{key}-busy"}
        assert {n for n in locks if key in n} == {f"{key}-held"}
        assert state.take(f"{key}-busy", 0.001, 2) == 0  # the kept bucket still counts
        assert state.take(f"{key}-busy", 0.001, 2) > 0
    finally:
        shut(state)


# --- wiring --------------------------------------------------------------------------------


def test_backend_follows_the_urls(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        assert isinstance(shared_state_from_settings(settings, db), DatabaseSharedState)
        with_redis = settings.model_copy(update={"redis_url": REDIS_URL, "redis_prefix": "t:"})
        redis_state = shared_state_from_settings(with_redis, db)
        assert isinstance(redis_state, RedisSharedState) and redis_state.prefix == "t:"
        redis_state.close()
    finally:
        db.dispose()


def test_a_steady_stream_spends_tokens_in_hand_while_the_next_lease_is_taken(
    backend: Backend,
) -> None:
    """600 requests one after another on a 6,000/min key (leases of 120), a lease taking
    10 ms: only the first request waits for a lease; each next lease is taken in the
    background from half a lease left, and every token spent was taken first."""
    taken: list[float] = []
    waited = 0

    async def scenario() -> list[float]:
        nonlocal waited
        state = slow_counted(backend, taken)
        limiter = SharedStateRateLimiter(state)
        real_wait, real_lease = limiter._wait, limiter._take_lease

        async def wait(*args: Any) -> Any:
            nonlocal waited
            waited += 1
            return await real_wait(*args)

        async def lease(*args: Any, own: bool = True) -> bool:
            nonlocal waited
            waited += own
            return await real_lease(*args, own=own)

        limiter._wait, limiter._take_lease = wait, lease  # type: ignore[method-assign]
        try:
            out = []
            for _ in range(600):
                out.append(await limiter.hit(7, 6_000))
                await asyncio.sleep(0.0005)
            return out
        finally:
            await state.aclose()
            shut(state)

    waits = asyncio.run(scenario())
    assert waits == [0.0] * 600
    assert waited == 1  # the first request's lease; every other request had a token in hand
    assert 600 <= sum(taken) <= 600 + 2 * 120 and set(taken) == {120.0}
