"""The console's sign-in throttle and the console sessions, both in the deployment's shared
state (Redis in production, the database embedded): every api process and replica counts
the same failures and sees the same sessions; a restart forgets nothing.

Policy (each number a ``SINCRO_ACCESS_SIGN_IN_*`` setting):

* Per account, attempts are counted *before* the password is checked (an atomic add), so
  concurrent guesses cannot all slip through on a stale count. The first ``free_attempts``
  in the window go straight to the check; a success forgets the count.
* Past them, an attempt must pass the account's gate, a shared lock taken for the current
  delay (base x 2^(k-1) for the k-th attempt past the free ones, at most ``max_delay``, 15
  min): one attempt per delay reaches the password check, the others get 429 with
  ``Retry-After`` and are not counted, so only checked guesses make the delay grow.
* There are two gates per account: one for addresses with no failure in the window and one
  for the rest. A stranger hammering an account from his address only ever holds the second,
  so the owner signing in from a clean address waits at most one delay (none when nobody
  else used a clean address lately) — never a lock-out a stranger can hold.
* Per client address (:func:`sincro.clients.client_address`), failures are counted; past
  ``address_free_failures`` every attempt from it passes the address's own growing gate,
  whatever the account, which slows a sweep over many accounts.

Password hashing (scrypt, ~50 ms of CPU) runs on a small thread pool of
``access_password_hash_concurrency`` threads, never on the event loop nor on the shared
request thread pool: 200 concurrent sign-ins queue there while other requests go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from sincro.access import service
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import RateLimited, Unauthorized
from sincro.sharedstate import SharedState

TOO_MANY = "Muitas tentativas de entrar. Aguarde {wait} e tente novamente."
SESSION_LOCK = "console-session:"


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    free_attempts: int = 5
    address_free_failures: int = 20
    base_delay: float = 1.0
    max_delay: float = 900.0
    window: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        return cls(
            settings.access_sign_in_free_attempts,
            settings.access_sign_in_address_free_failures,
            settings.access_sign_in_base_delay_seconds,
            settings.access_sign_in_max_delay_seconds,
            settings.access_sign_in_window_seconds,
        )

    def delay(self, step: int) -> float:
        """Seconds between checked attempts at ``step`` (1, 2, …) past the free ones."""
        return min(self.max_delay, self.base_delay * 2 ** min(max(step, 1) - 1, 40))


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def too_many(seconds: float) -> RateLimited:
    """The 429 of a throttled sign-in (pt-BR message, ``Retry-After`` in whole seconds)."""
    wait = max(1, math.ceil(seconds))
    return RateLimited(TOO_MANY.format(wait=_wait_text(wait)), headers={"Retry-After": str(wait)})


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class SignInGuard:
    """Checks console sign-ins under :class:`SignInPolicy`; one per api process."""

    def __init__(
        self, db: Database, shared: SharedState, policy: SignInPolicy, hash_threads: int = 2
    ) -> None:
        self.db, self.shared, self.policy = db, shared, policy
        self._hashing = ThreadPoolExecutor(hash_threads, thread_name_prefix="sincro-scrypt")

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, shared: SharedState) -> SignInGuard:
        policy = SignInPolicy.from_settings(settings)
        return cls(db, shared, policy, settings.access_password_hash_concurrency)

    async def sign_in(self, email: str, password: str, address: str | None) -> int:
        """The id of the active user with this e-mail and password; :class:`RateLimited`
        (429) when throttled, :class:`Unauthorized` (401) when wrong."""
        account, client = _digest(email.strip().lower()), address or "unknown"
        await run_in_threadpool(self.admit, account, client)
        user_id, stored = await run_in_threadpool(self._candidate, email)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._hashing, service.check_password, password, stored)
        if ok and user_id is not None:
            await run_in_threadpool(self.shared.reset, f"signin:account:{account}")
            return user_id
        await run_in_threadpool(self._failed, client)
        raise Unauthorized("e-mail ou senha inválidos")

    def admit(self, account: str, client: str) -> None:
        """Let one attempt through to the password check, or raise the 429 (blocking)."""
        policy, shared = self.policy, self.shared
        failures = shared.add(f"signin:address:{client}", 0, policy.window)
        if failures >= policy.address_free_failures:
            step = failures - policy.address_free_failures + 1
            self._through_gate(f"signin:gate:address:{client}", step)
        # the clean gate is for an address trying this account for the first time with no
        # failures (the owner, elsewhere); counted atomically before anything else, so a
        # concurrent storm from one address cannot take it before its first failure is recorded
        seen = shared.add(f"signin:seen:{account}:{client}", 1, policy.window)
        key = f"signin:account:{account}"
        attempts = shared.add(key, 1, policy.window)
        if attempts <= policy.free_attempts:
            return
        which = "clean" if failures == 0 and seen == 1 else "known"
        try:
            self._through_gate(f"signin:gate:{which}:{account}", attempts - policy.free_attempts)
        except RateLimited:
            shared.add(key, -1, policy.window)  # refused attempts do not grow the delay
            raise

    def _through_gate(self, name: str, step: int) -> None:
        """Take the gate for ``delay(step)``; refused, the holder took it for at most
        ``delay(step - 1)``, which is when to come back."""
        if self.shared.acquire(name, self.policy.delay(step)) is None:
            raise too_many(self.policy.delay(step - 1))

    def _candidate(self, email: str) -> tuple[int | None, str]:
        with self.db.read() as session:
            return service.sign_in_candidate(session, email)

    def _failed(self, client: str) -> None:
        self.shared.add(f"signin:address:{client}", 1, self.policy.window)

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)


# --- console sessions --------------------------------------------------------------------


def start_session(shared: SharedState, idle_seconds: float) -> tuple[str, str]:
    """Register a new console session: its random id and owner token (both go in the signed
    cookie). It lives ``idle_seconds`` past its last use."""
    for _ in range(3):
        session_id = service.new_session_id()
        token = shared.acquire(SESSION_LOCK + session_id, idle_seconds)
        if token is not None:
            return session_id, token
    raise RuntimeError("could not register a console session")


def session_alive(shared: SharedState, session_id: str, token: str, idle_seconds: float) -> bool:
    """True while the session is registered (and renewed for ``idle_seconds`` more)."""
    return shared.renew(SESSION_LOCK + session_id, token, idle_seconds)


def end_session(shared: SharedState, session_id: str, token: str) -> None:
    """Forget the session at once: a copied cookie stops working."""
    shared.release(SESSION_LOCK + session_id, token)
