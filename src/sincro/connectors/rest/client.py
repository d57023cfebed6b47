"""HTTP client of the REST ERPs: retries, Retry-After, a time budget, the breaker, and an
error taxonomy that ends up, readable, in ``SyncRun.error``.

Retryable (jittered exponential backoff, or exactly what Retry-After asks): timeouts,
connection errors, HTTP 5xx, HTTP 429. Not retryable (fail the run at once): other 4xx, a body
that is not the JSON expected, a missing credential, an open breaker, an exhausted budget.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from sincro.connectors.resilience import BreakerOpen, CircuitBreaker, Permit
from sincro.connectors.rest.config import RestSource


class SyncError(Exception):
    """A failed call to an ERP; ``kind`` is one of the taxonomy's names."""

    RETRYABLE = frozenset({"timeout", "connection", "server_error", "rate_limited"})

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.retry_after = kind, message, retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE


class Deadline:
    """The total time budget of one run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RestClient:
    """One per source; thread-safe (httpx shares its connection pool between threads)."""

    def __init__(
        self,
        source: RestSource,
        breaker: CircuitBreaker | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source, self.breaker, self.sleep = source, breaker, sleep
        headers = {"Accept": "application/json", "User-Agent": "sincro-connector/1"}
        if source.auth is not None:
            try:
                headers.update(source.auth.headers())
            except KeyError as exc:
                raise SyncError("auth", f"source {source.code}: {exc.args[0]}") from None
        pool = source.max_concurrency + 2
        self.http = httpx.Client(
            base_url=source.base_url,
            headers=headers,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            transport=transport,
        )
        self._rng = random.Random()

    def close(self) -> None:
        self.http.close()

    def backoff(self, attempt: int) -> float:
        """Equal-jitter exponential backoff: between half and all of base * 2^(attempt-1)."""
        retry = self.source.retry
        ceiling = min(retry.max_delay, retry.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def get_json(self, path: str, params: dict[str, Any], deadline: Deadline) -> Any:
        return self.request("GET", path, deadline, params=params)

    def post_json(
        self, path: str, body: Any, deadline: Deadline, headers: dict[str, str] | None = None
    ) -> Any:
        return self.request("POST", path, deadline, json=body, headers=headers)

    def request(self, method: str, path: str, deadline: Deadline, **kwargs: Any) -> Any:
        """The decoded JSON answer, after as many attempts as the policy and budget allow."""
        what = f"{method} {path}"
        if kwargs.get("params"):
            what += "?" + "&".join(f"{k}={v}" for k, v in kwargs["params"].items())
        attempts = self.source.retry.max_attempts
        last: SyncError | None = None
        for attempt in range(1, attempts + 1):
            if deadline.remaining() <= 0:
                raise self._budget(what, attempt - 1, last)
            try:
                return self._attempt(method, path, what, deadline, kwargs)
            except SyncError as exc:
                if not exc.retryable:
                    raise
                last = exc
            if attempt == attempts:
                break
            delay = last.retry_after if last.retry_after is not None else self.backoff(attempt)
            if delay >= deadline.remaining():
                raise self._budget(what, attempt, last, delay)
            self.sleep(delay)
        assert last is not None
        raise SyncError(last.kind, f"{last.message} (gave up after {attempts} attempts)")

    def _budget(
        self, what: str, attempts: int, last: SyncError | None, delay: float | None = None
    ) -> SyncError:
        wait = f"; next retry due in {delay:.1f}s" if delay is not None else ""
        cause = f"; last error: {last}" if last else ""
        return SyncError(
            "budget_exhausted",
            f"run time budget of {self.source.run_budget_seconds:g}s exhausted at {what} after "
            f"{attempts} attempt(s){wait}{cause}",
        )

    def _attempt(
        self, method: str, path: str, what: str, deadline: Deadline, kwargs: dict[str, Any]
    ) -> Any:
        permit = Permit()
        if self.breaker is not None:
            try:
                permit = self.breaker.allow()
            except BreakerOpen as exc:
                raise SyncError("breaker_open", str(exc)) from None
        timeout = max(0.05, min(self.source.timeout_seconds, deadline.remaining()))
        try:
            response = self.http.request(method, path, timeout=timeout, **kwargs)
        except httpx.TimeoutException:
            self._failed(permit)
            raise SyncError("timeout", f"{what}: no answer within {timeout:.1f}s") from None
        except httpx.TransportError as exc:
            self._failed(permit)
            raise SyncError("connection", f"{what}: {type(exc).__name__}: {exc}") from None
        return self._answer(response, what, permit)

    def _failed(self, permit: Permit) -> None:
        if self.breaker is not None:
            self.breaker.record_failure(permit)

    def _answer(self, response: httpx.Response, what: str, permit: Permit) -> Any:
        status = response.status_code
        if status >= 500:
            self._failed(permit)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise SyncError(
                "server_error",
                f"{what}: HTTP {status} {_snippet(response)}",
                retry_after=retry_after,
            )
        if self.breaker is not None:
            self.breaker.record_success(permit)  # the server answered: it is up
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise SyncError(
                "rate_limited", f"{what}: HTTP 429 (rate limited)", retry_after=retry_after
            )
        if status >= 400:
            raise SyncError("client_error", f"{what}: HTTP {status} {_snippet(response)}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SyncError("bad_payload", f"{what}: body is not JSON ({exc})") from None


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]
