"""The console sign-in throttle (shared state: the database on SQLite and PostgreSQL, and
Redis) and server-side console sessions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access, signin
from sincro.access.models import ConsoleUser
from sincro.access.signin import SignInGuard, SignInPolicy
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import RateLimited, Unauthorized
from sincro.sharedstate import DatabaseSharedState, RedisSharedState, SharedState
from tests.console.support import csrf_of, sign_in
from tests.services import REDIS_URL

EMAIL, PASSWORD = "caixa@loja.com.br", "senha-forte-1"


@pytest.fixture(params=["database", "redis"])
def make_shared(request: pytest.FixtureRequest, db: Database) -> Iterator[Callable[[], Any]]:
    """A factory of shared states (one per simulated app instance) over one store."""
    made: list[SharedState] = []

    def make() -> SharedState:
        if request.param == "database":
            state: SharedState = DatabaseSharedState(db)
        else:
            prefix = request.getfixturevalue("redis_prefix")
            state = RedisSharedState.from_url(REDIS_URL, prefix)
        made.append(state)
        return state

    yield make
    for state in made:
        state.close()


@pytest.fixture
def user_id(db: Database) -> int:
    with db.write() as s:
        return access.create_user(s, EMAIL, "Caixa", PASSWORD).id


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts password checks (the scrypt work an attacker wants)."""
    calls: list[int] = []
    lock = threading.Lock()
    real = access.check_password

    def counting(password: str, stored: str) -> bool:
        with lock:
            calls.append(1)
        return real(password, stored)

    monkeypatch.setattr(access, "check_password", counting)
    return calls


def guard(db: Database, shared: SharedState, **policy: Any) -> SignInGuard:
    return SignInGuard(db, shared, SignInPolicy(**policy))


async def attempt(g: SignInGuard, password: str, address: str) -> str:
    """One sign-in: "ok", "401" or "429:<Retry-After>"."""
    try:
        await g.sign_in(EMAIL, password, address)
    except RateLimited as exc:
        return f"429:{exc.headers['Retry-After']}"
    except Unauthorized:
        return "401"
    return "ok"


def test_concurrent_guesses_across_instances_reach_the_check_a_bounded_number_of_times(
    db: Database, make_shared: Callable[[], SharedState], user_id: int, hash_calls: list[int]
) -> None:
    # a first delay longer than the storm: exactly one attempt may pass the gate meanwhile
    instances = [guard(db, make_shared(), free_attempts=5, base_delay=60.0) for _ in range(2)]

    async def storm() -> list[str]:
        guesses = [attempt(instances[i % 2], f"chute-{i}", "203.0.113.9") for i in range(150)]
        return await asyncio.gather(*guesses)

    results = asyncio.run(storm())
    # 5 free attempts, then one through the account's gate (its delay has not passed), plus
    # at most one through the clean-address gate: the address's first attempt can be
    # overtaken by its others and arrive past the free ones before any failure is recorded
    assert len(hash_calls) <= 7, f"{len(hash_calls)} guesses reached the password check"
    assert results.count("401") == len(hash_calls)
    refused = [r for r in results if r.startswith("429:")]
    assert len(refused) == 150 - len(hash_calls)
    assert all(int(r.split(":")[1]) >= 60 for r in refused)


def test_the_delay_grows_and_a_correct_password_resets_it(
    db: Database, make_shared: Callable[[], SharedState], user_id: int
) -> None:
    # 1 s, the smallest delay whose doubling Retry-After (whole seconds) still shows
    g = guard(db, make_shared(), free_attempts=2, base_delay=1.0)
    run = asyncio.run
    assert [run(attempt(g, "errada", "198.51.100.7")) for _ in range(2)] == ["401", "401"]
    assert run(attempt(g, "errada", "198.51.100.7")) == "401"  # the gate, held for 1 s
    assert run(attempt(g, PASSWORD, "198.51.100.7")) == "429:1"  # even the right password
    time.sleep(1.1)
    assert run(attempt(g, "errada", "198.51.100.7")) == "401"  # the gate, held for 2 s
    assert run(attempt(g, "errada", "198.51.100.7")) == "429:2"
    time.sleep(2.1)
    assert run(attempt(g, PASSWORD, "198.51.100.7")) == "ok"
    assert run(attempt(g, "errada", "198.51.100.7")) == "401"  # the count starts again


def test_a_stranger_cannot_lock_the_owner_out(
    db: Database, make_shared: Callable[[], SharedState], user_id: int
) -> None:
    g = guard(db, make_shared(), free_attempts=3, base_delay=600.0)

    async def stranger(n: int) -> list[str]:
        return [await attempt(g, f"chute-{i}", "192.0.2.66") for i in range(n)]

    assert asyncio.run(stranger(4)) == ["401"] * 4  # 3 free, then the gate for 10 min
    assert asyncio.run(stranger(3)) == ["429:600"] * 3
    # the owner, from an address with no failures, is not behind the stranger's gate
    assert asyncio.run(attempt(g, PASSWORD, "198.51.100.20")) == "ok"


def test_an_address_sweeping_accounts_is_slowed(db: Database, user_id: int) -> None:
    g = guard(db, DatabaseSharedState(db), address_free_failures=3, base_delay=600.0)

    async def sweep() -> list[str]:
        out = []
        for i in range(5):
            try:
                await g.sign_in(f"pessoa{i}@loja.com.br", "errada", "192.0.2.99")
                out.append("ok")
            except RateLimited:
                out.append("429")
            except Unauthorized:
                out.append("401")
        return out

    assert asyncio.run(sweep()) == ["401", "401", "401", "401", "429"]


# --- over HTTP: the console ---------------------------------------------------------------


@pytest.fixture
def client(db: Database, settings: Settings, user_id: int) -> Iterator[TestClient]:
    settings.access_sign_in_free_attempts = 2
    settings.access_sign_in_base_delay_seconds = 30
    with TestClient(create_app(settings)) as client:
        yield client


def test_console_answers_429_with_retry_after_in_pt_br(client: TestClient) -> None:
    statuses = [sign_in(client, EMAIL, "errada-123").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = sign_in(client, EMAIL, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert "Muitas tentativas de entrar. Aguarde 30 s" in refused.text


def test_sign_out_ends_a_copied_session_at_once(client: TestClient) -> None:
    assert sign_in(client, EMAIL, PASSWORD).status_code == 303
    copied = client.cookies.get("sincro_console")
    assert copied
    page = client.get("/console/skus")
    assert page.status_code == 200
    out = client.post("/console/sign-out", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 200
    client.cookies.set("sincro_console", copied)  # someone replays the cookie they copied
    response = client.get("/console/skus", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


def test_a_session_without_registration_is_refused(client: TestClient, db: Database) -> None:
    assert sign_in(client, EMAIL, PASSWORD).status_code == 303
    with db.write() as s:  # the server forgets every session (e.g. shared state wiped)
        s.execute(signin_locks_delete())
    assert client.get("/console/skus", follow_redirects=False).status_code == 303


def signin_locks_delete() -> Any:
    from sqlalchemy import delete

    from sincro.sharedstate import SharedLock

    return delete(SharedLock).where(SharedLock.name.startswith(signin.SESSION_LOCK))


def test_password_hashing_is_bounded_and_off_the_event_loop(
    db: Database, user_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = SignInPolicy(free_attempts=1_000, address_free_failures=1_000)
    g = SignInGuard(db, DatabaseSharedState(db), policy, hash_threads=2)
    active, peak, lock = [0], [0], threading.Lock()

    def slow_check(password: str, stored: str) -> bool:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.03)  # scrypt's time, outside the GIL like hashlib.scrypt
        with lock:
            active[0] -= 1
        return False

    monkeypatch.setattr(access, "check_password", slow_check)

    async def scenario() -> list[float]:
        lags: list[float] = []
        sign_ins = asyncio.gather(
            *(attempt(g, "errada", f"10.1.0.{i}") for i in range(40)), return_exceptions=True
        )
        while not sign_ins.done():
            started = time.monotonic()
            await asyncio.sleep(0.005)
            lags.append(time.monotonic() - started - 0.005)
        await sign_ins
        return lags

    lags = asyncio.run(scenario())
    g.close()
    assert peak[0] <= 2, f"{peak[0]} password hashes ran at once"
    assert sorted(lags)[len(lags) // 2] < 0.05, "the event loop stalled"


def test_disabling_a_user_ends_their_session(
    client: TestClient, db: Database, user_id: int
) -> None:
    assert sign_in(client, EMAIL, PASSWORD).status_code == 303
    assert client.get("/console/skus", follow_redirects=False).status_code == 200
    with db.write() as s:
        user = s.get(ConsoleUser, user_id)
        assert user is not None
        user.active = False
    assert client.get("/console/skus", follow_redirects=False).status_code == 303
