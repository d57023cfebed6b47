"""Access's long-lived objects in an api process: the console sign-in guard."""

from __future__ import annotations

from sincro.access.signin import SignInGuard
from sincro.deps import AppState

GUARD = "access.sign_in"


def install(state: AppState) -> None:
    """Build this process's sign-in guard (its own small password-hashing pool)."""
    guard = SignInGuard.from_settings(state.settings, state.db, state.shared)
    state.services[GUARD] = guard

    async def stop() -> None:
        guard.close()

    state.on_stop.append(stop)


def sign_in_guard(state: AppState) -> SignInGuard:
    return state.service(GUARD, SignInGuard)
