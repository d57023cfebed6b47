"""Fast routes: a few hot ``method path`` pairs answered ahead of FastAPI's stack when they can.

FastAPI's per-request plumbing (the middleware chain, routing, dependency solving, parameter
validation, the response model) costs more CPU than a lean write such as a one-line
reservation. A domain may register a :class:`FastRoute` for one method and an exact path, or
a path with one parameter segment, in ``AppState.fast_routes``; the application
(:class:`FastRoutesApp`, FastAPI with a dispatcher in front) sends those requests to it
*before* FastAPI's own entry and the whole middleware stack, and everything else on
unchanged.

A fast route must answer exactly as the documented FastAPI route would, or not at all: its
handler either answers (and returns the status it sent), or returns a ``receive`` that replays
whatever it read of the body, and the request goes on through the normal stack as if nothing
had happened. The rule that keeps this safe: **nothing with an effect happens before the
decision** (no rate limit token taken, no row written); a handler decides from headers, the
body and process caches, then either hands over or answers. An error it raises is rendered
by the dispatcher, so a handler raises only before it sends: its response is its last step.

What the stack would add around a route the dispatcher adds itself: the request latency
metric (:mod:`sincro.metrics`), and errors rendered by the application's own exception
handlers (the same JSON shape, status and headers).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from sincro.metrics import observe_request

# a handler returns the status it answered with, or the ``receive`` to hand the request over with
Handler = Callable[[Scope, Receive, Send], Awaitable[Receive | int]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """``handler`` for ``method path``: an exact path, or a template with one parameter
    segment (``/v1/things/{thing_id}/parts``: any one non-empty segment there, which the
    handler reads with :meth:`parameter` and checks itself). The path is also the latency
    metric's route label, as for the documented route."""

    method: str
    path: str
    handler: Handler
    # ``(prefix, suffix)`` around the parameter segment, or None for an exact path: split once
    # here (a ValueError for a path of another shape), not on every request it is matched to
    template: tuple[str, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", _split(self.path))

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def parameter(self, path: str) -> str | None:
        """The parameter segment of ``path`` when it matches the template, else None."""
        template = self.template
        if template is None:
            return None
        prefix, suffix = template
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return None
        segment = path[len(prefix) : len(path) - len(suffix)]
        return segment if segment and "/" not in segment else None


def _split(path: str) -> tuple[str, str] | None:
    if "{" not in path:
        return None
    prefix, rest = path.split("{", 1)
    suffix = rest.split("}", 1)[1]
    if "{" in suffix or not prefix.endswith("/") or (suffix and suffix[0] != "/"):
        raise ValueError(f"a fast route has at most one whole-segment parameter: {path}")
    return prefix, suffix


class FastRoutesApp(FastAPI):
    """FastAPI with the dispatcher in front (see the module docstring): a request for a fast
    route is answered before FastAPI's own entry (its per-request telemetry check, the
    middleware stack); everything else, and whatever a fast route hands over, goes through
    ``FastAPI.__call__`` unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes: dict[tuple[str, str], FastRoute] = {}
        # the templated ones: (method, prefix, route), looked at when no exact path matched
        self.fast_templates: list[tuple[str, str, FastRoute]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and not self.root_path and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            route = self.fast_routes.get((method, path))
            if route is None:
                for wanted, prefix, candidate in self.fast_templates:
                    if (
                        method == wanted
                        and path.startswith(prefix)
                        and candidate.parameter(path) is not None
                    ):
                        route = candidate
                        break
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets: the exception handlers are found there
        start = time.perf_counter()
        try:
            answer = await route.handler(scope, receive, send)
        except Exception as exc:  # raised before the handler sent anything (see above)
            response = await _rendered(scope, exc)
            await response(scope, receive, send)
            answer = response.status_code
        if isinstance(answer, int):
            observe_request(route.method, route.path, answer, time.perf_counter() - start)
        else:
            await super().__call__(scope, answer, send)


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
    app.fast_routes = {k: r for k, r in routes.items() if r.template is None}
    app.fast_templates = [
        (r.method, template[0], r) for r in routes.values() if (template := r.template)
    ]


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

    @property
    def sends_json(self) -> bool:
        """Sent once as ``application/json`` (any parameters): a type FastAPI reads as JSON."""
        content_type = self.headers.get("content-type")
        return (
            not self.repeated
            and content_type is not None
            and (content_type.split(";", 1)[0].strip().lower() == "application/json")
        )

    async def json_object(self, cap: int) -> dict[str, Any] | None:
        """The body (see :meth:`body`) when it parses as a JSON object; None otherwise."""
        raw = await self.body(cap)
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return data if type(data) is dict else None

    def hand_over(self) -> Receive:
        """A ``receive`` that replays what was read, then reads on."""
        pending = self._messages
        receive = self._receive

        async def replayed() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replayed
