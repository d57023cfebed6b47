"""Shared task plumbing: every task opens its own transaction and retries transient errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sincro.worker import TRANSIENT_ERRORS, celery_app

F = TypeVar("F", bound=Callable[..., Any])


def task(name: str, *, time_limit: int = 120, max_retries: int = 5) -> Callable[[F], F]:
    """A named Celery task with bounded, jittered retries on transient errors only."""

    def decorate(func: F) -> F:
        return celery_app.task(
            name=name,
            autoretry_for=TRANSIENT_ERRORS,
            retry_backoff=True,
            retry_backoff_max=60,
            retry_jitter=True,
            max_retries=max_retries,
            time_limit=time_limit,
            soft_time_limit=max(1, time_limit - 10),
        )(func)

    return decorate
