"""CORS for the public endpoints, answered for exactly the origins of active site keys.

Browsers ask before a widget's cross-origin POST (``X-Site-Key``, ``Authorization`` and a JSON
body are not "simple"); the preflight carries no key or token, so it is answered for any
origin some active key allows, and the request itself is then checked against its own key.
Error answers get the same headers, so the widget can read them (a 429's ``Retry-After``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from sincro.assistant.widget import sitekeys

ALLOW_HEADERS = "Authorization, Content-Type, X-Site-Key"
MAX_AGE_SECONDS = "600"


async def allowed(request: Request, origin: str | None) -> bool:
    if not origin:
        return False
    state: Any = request.app.state.sincro

    def read() -> frozenset[str]:
        with state.db.read() as session:
            return sitekeys.every_origin(session)

    return origin in await run_in_threadpool(read)


def add_headers(response: Response, origin: str, methods: str | None = None) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    if methods:
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS


def _handler_for(request: Request, exc: Exception) -> Callable[..., Awaitable[Response]] | None:
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None  # unexpected: the app's own 500 path logs it
        if cls in handlers:
            return handlers[cls]
    return None


class PublicRoute(APIRoute):
    """A route whose answers, errors included, carry CORS headers for an allowed origin."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as exc:
                handler = _handler_for(request, exc)
                if handler is None:
                    raise
                response = await handler(request, exc)
            origin = request.headers.get("origin")
            response.headers["Vary"] = "Origin"
            if origin and await allowed(request, origin):
                add_headers(response, origin)
            return response

        return route
