"""Request bodies: the key is checked before a byte of the body is read, and every body is
capped (an ASGI middleware, outermost but for the metrics).

* ``/v1/`` requests that carry a body (a ``Content-Length`` above 0 or a chunked
  ``Transfer-Encoding``) without an API key, or with an unknown or revoked one, are answered
  401 in the error shape and their body is never read: a stranger's 47 MB upload costs
  nothing but the socket.
* Every body has a cap: the one its route declares with :func:`declare_cap` (e.g.
  ``POST /v1/movements`` takes batches), else ``SINCRO_API_BODY_MAX_BYTES``
  (1 MB) for the API and ``SINCRO_CONSOLE_BODY_MAX_BYTES`` (64 KB) for console forms. A
  declared ``Content-Length`` over the cap is refused at once; a streamed (chunked) body is
  counted as it arrives and refused when it passes the cap. Both are 413 in the error shape.
* A few ``/v1/`` routes are public (:func:`declare_public`): they authenticate by other means
  (a publishable site key and a conversation token, a channel's HMAC signature) that the
  route itself checks, so no API key is asked for; their bodies are capped all the same (give
  them a small cap with :func:`declare_cap`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sincro.access import service as access
from sincro.deps import authenticate_key, presented_key
from sincro.errors import PayloadTooLarge, SincroError, Unauthorized, error_response

log = logging.getLogger("sincro.bodylimits")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/v1/"
CONSOLE_PREFIX = "/console"


class BodyTooLarge(HTTPException):
    """A body past its cap (an HTTPException so FastAPI's body reader lets it through to the
    app's error handler, which renders the error shape)."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body larger than {cap} bytes")
        self.cap = cap


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {key.lower(): value for key, value in scope.get("headers") or ()}


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        return None


def has_body(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """True when the request says it carries a body."""
    if scope.get("method") not in BODY_METHODS:
        return False
    return bool(_content_length(headers)) or b"transfer-encoding" in headers


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


_caps: list[tuple[str, re.Pattern[str], int]] = []
_public: list[tuple[str, re.Pattern[str]]] = []


def declare_cap(method: str, path: str, max_bytes: int) -> None:
    """Let ``method path`` (a route template, ``{params}`` allowed) take bodies up to
    ``max_bytes`` instead of the default; called by the module defining the route."""
    pattern = compile_path(path)[0]
    _caps[:] = [c for c in _caps if (c[0], c[1].pattern) != (method, pattern.pattern)]
    _caps.append((method.upper(), pattern, max_bytes))


def declare_public(method: str, path: str) -> None:
    """Let ``method path`` (a route template) send a body without an API key: the route
    authenticates the request itself (still capped, see :func:`declare_cap`)."""
    pattern = compile_path(path)[0]
    _public[:] = [p for p in _public if (p[0], p[1].pattern) != (method, pattern.pattern)]
    _public.append((method.upper(), pattern))


def is_public(method: str, path: str) -> bool:
    """True when ``method path`` was declared public."""
    return any(m == method and pattern.match(path) for m, pattern in _public)


def route_cap(method: str, path: str) -> int | None:
    """The cap declared for this request's route, if any."""
    for declared_method, pattern, cap in _caps:
        if declared_method == method and pattern.match(path):
            return cap
    return None


class BodyLimits:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, api_max: int, console_max: int) -> None:
        self.app, self.api_max, self.console_max = app, api_max, console_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # reads (the hot path) pass straight through: no header parsing for a GET
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not has_body(scope, headers):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(API_PREFIX) and not is_public(scope.get("method", ""), path):
            refusal = await _refusal(scope, headers)
            if refusal is not None:
                await _answer(refusal, scope, receive, send)
                return
        cap = self._cap(scope, path)
        declared = _content_length(headers)
        if declared is not None and declared > cap:
            await _answer(_too_large(cap), scope, receive, send, close=True)
            return
        await self._capped(scope, receive, send, cap)

    def _cap(self, scope: Scope, path: str) -> int:
        default = self.console_max if path.startswith(CONSOLE_PREFIX) else self.api_max
        return route_cap(scope.get("method", ""), path) or default

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _answer(_too_large(cap), scope, receive, send, close=True)


def _too_large(cap: int) -> SincroError:
    return PayloadTooLarge(f"request body larger than {cap} bytes", field="body")


async def _refusal(scope: Scope, headers: dict[bytes, bytes]) -> SincroError | None:
    """Why this API request may not send its body (no key, unknown key), else None."""
    plaintext = presented_key(_header(headers, b"x-api-key"), _header(headers, b"authorization"))
    if plaintext is None:
        return Unauthorized("missing API key: send it in the X-API-Key header", field="X-API-Key")
    if access.cached_principal(plaintext) is not None:
        return None
    state: Any = scope["app"].state.sincro
    try:
        await run_in_threadpool(authenticate_key, state.db, plaintext)
    except Unauthorized as exc:
        return exc
    except Exception:  # e.g. the database is away: the endpoint answers that in its own way
        log.warning("could not check an API key before the body", exc_info=True)
    return None


async def _answer(
    error: SincroError, scope: Scope, receive: Receive, send: Send, *, close: bool = False
) -> None:
    """Send ``error`` in the error shape without reading the body (``Connection: close`` so
    the client stops sending it)."""
    headers = dict(error.headers)
    if close or error.status_code == 401:
        headers["Connection"] = "close"
    response = error_response(error.status_code, error.body(), headers)
    await response(scope, receive, send)
