"""Fast routes: a few hot ``method path`` pairs answered ahead of FastAPI's stack when they can.

FastAPI's per-request plumbing (the middleware chain, routing, dependency solving, parameter
validation, the response model) costs more CPU than a lean write such as a one-line
reservation. A domain may register a :class:`FastRoute` for one exact method and path in
``AppState.fast_routes``; the application (:class:`FastRoutesApp`, FastAPI with a dispatcher
in front) sends those requests to it *before* FastAPI's own entry and the whole middleware
stack, and everything else on unchanged.

A fast route must answer exactly as the documented FastAPI route would, or not at all: its
handler either answers (returns None), or returns a ``receive`` that replays whatever it read
of the body, and the request goes on through the normal stack as if nothing had happened. The
rule that keeps this safe: **nothing with an effect happens before the decision** (no rate
limit token taken, no row written); a handler decides from headers, the body and process
caches, then either hands over or answers.

What the stack would add around a route the dispatcher adds itself: the request latency
metric (:mod:`sincro.metrics`), and errors rendered by the application's own exception
handlers (the same JSON shape, status and headers).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from sincro.metrics import observe_request

Handler = Callable[[Scope, Receive, Send], Awaitable[Receive | None]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """``handler`` for ``method path``: an exact path, or with ``prefix`` every path that
    starts with it (the handler reads the rest, e.g. ``/v1/availability/`` for
    ``/v1/availability/{sku}``). ``path`` is the latency metric's route label, the documented
    route's template."""

    method: str
    path: str
    handler: Handler
    prefix: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


class FastRoutesApp(FastAPI):
    """FastAPI with the dispatcher in front (see the module docstring): a request for a fast
    route is answered before FastAPI's own entry (its per-request telemetry check, the
    middleware stack); everything else, and whatever a fast route hands over, goes through
    ``FastAPI.__call__`` unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes: dict[tuple[str, str], FastRoute] = {}
        self.fast_prefixes: dict[str, tuple[FastRoute, ...]] = {}  # by method

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and not self.root_path and not scope.get("root_path"):
            route = self.fast_routes.get((scope["method"], scope["path"]))
            if route is None:
                for candidate in self.fast_prefixes.get(scope["method"], ()):
                    if scope["path"].startswith(candidate.prefix or "/"):
                        route = candidate
                        break
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets: the exception handlers are found there
        start = time.perf_counter()
        status = 500
        started = False

        async def watched(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            hand_over = await route.handler(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            response = await _rendered(scope, exc)
            await response(scope, receive, watched)
            hand_over = None
        if hand_over is not None:
            await super().__call__(scope, hand_over, send)
            return
        observe_request(route.method, route.path, status, time.perf_counter() - start)


async def _rendered(scope: Scope, exc: Exception) -> Any:
    """The response the application's exception handlers give ``exc`` (most specific class
    first, as Starlette looks them up)."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            result = handler(Request(scope), exc)
            return await result if inspect.isawaitable(result) else result
    raise exc


def install(app: FastRoutesApp, routes: dict[tuple[str, str], FastRoute]) -> None:
    """Have ``app`` answer ``routes`` ahead of FastAPI."""
    app.fast_routes = {key: route for key, route in routes.items() if route.prefix is None}
    prefixes: dict[str, list[FastRoute]] = {}
    for route in routes.values():
        if route.prefix is not None:
            prefixes.setdefault(route.method, []).append(route)
    app.fast_prefixes = {method: tuple(found) for method, found in prefixes.items()}


class FastRequest:
    """A request as a fast route sees it: headers by lower-case name (latin-1, as Starlette
    decodes them; a name sent twice is in ``repeated``), and the body once read."""

    __slots__ = ("_messages", "_receive", "headers", "repeated")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        headers: dict[str, str] = {}
        repeated = False
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name in headers:
                repeated = True
            headers[name] = raw_value.decode("latin-1")
        self.headers, self.repeated = headers, repeated
        self._messages: list[Message] = []
        self._receive = receive

    async def body(self, cap: int) -> bytes | None:
        """The whole body when the request declares its length (1 to ``cap`` bytes, not
        chunked) and sends all of it; None otherwise (the normal stack decides then)."""
        if "transfer-encoding" in self.headers:
            return None
        declared = self.headers.get("content-length", "")
        if not declared.isdigit() or not 0 < int(declared) <= cap:
            return None
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            self._messages.append(message)
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        return body if len(body) == int(declared) else None

    def hand_over(self) -> Receive:
        """A ``receive`` that replays what was read, then reads on."""
        pending = self._messages
        receive = self._receive

        async def replayed() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replayed
