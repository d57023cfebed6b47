"""The web console (pt-BR), served by the api from Jinja2 templates and local static files."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from sincro.clients import client_scheme
from sincro.console import routes
from sincro.domain import resolve
from sincro.domains import installed
from sincro.errors import DATABASE_ERRORS, SHARED_STATE_ERRORS, SincroError, unavailable
from sincro.routecache import include

CONSOLE_PREFIX = "/console"
SESSION_COOKIE = "sincro_console"

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def is_console_path(scope: Scope) -> bool:
    """True for the console's paths (the app's root path, if any, taken off first)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class ConsoleSessions:
    """Starlette's signed-cookie :class:`SessionMiddleware`, for console paths only: API calls
    (the hot path) neither parse nor set the console's cookie. Over https (as the client sees
    it: :func:`sincro.clients.client_scheme`, believing a trusted proxy only) the cookie is
    ``Secure``; it expires after ``idle_seconds`` without a console request (every response
    renews it, and so does the server-side registration of the session)."""

    def __init__(self, app: ASGIApp, secret_key: str, idle_seconds: int) -> None:
        self.app = app
        options = {
            "secret_key": secret_key,
            "session_cookie": SESSION_COOKIE,
            "max_age": idle_seconds,
            "same_site": "lax",
        }
        self.plain = SessionMiddleware(app, **options)  # type: ignore[arg-type]
        self.secure = SessionMiddleware(app, https_only=True, **options)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_console_path(scope):
            sessions = self.secure if client_scheme(scope) == "https" else self.plain
            await sessions(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def mount_console(app: FastAPI) -> None:
    """Attach the console's routes and static files to the api application."""
    settings = app.state.sincro.settings
    app.add_middleware(
        ConsoleSessions,
        secret_key=settings.secret_key,
        idle_seconds=settings.access_session_idle_seconds,
    )
    include(app, routes.router)
    for domain in installed():
        for router in domain.console_routers:
            include(app, resolve(router))
    app.mount(
        f"{CONSOLE_PREFIX}/static",
        StaticFiles(directory=routes.STATIC_DIR),
        name="console_static",
    )
    app.add_exception_handler(routes.SignInRequired, routes.sign_in_redirect)
    handled = (StarletteHTTPException, RequestValidationError, SincroError, Exception)
    for error_class in (*handled, *DATABASE_ERRORS, *SHARED_STATE_ERRORS):
        previous = app.exception_handlers.get(error_class)
        app.add_exception_handler(error_class, _console_pages(previous))


def _console_pages(previous: Handler | None) -> Handler:
    """Wrap an error handler: console paths get a pt-BR HTML page, the API keeps its JSON."""

    async def handler(request: Request, exc: Exception) -> Response:
        if is_console_path(request.scope):
            return await _error_page(request, exc)
        if previous is None:
            raise exc
        result = previous(request, exc)
        return await result if inspect.isawaitable(result) else result

    return handler


async def _error_page(request: Request, exc: Exception) -> Response:
    answer = unavailable(exc)
    if answer is not None:
        return _unavailable_page(request, answer)
    status = 422 if isinstance(exc, RequestValidationError) else getattr(exc, "status_code", 500)
    if status >= 500 or "session" not in request.scope:
        return routes.render(request, "error.html", {"status": 500}, status_code=500)
    if not hasattr(request.state, "console_user"):
        await run_in_threadpool(_identify, request)
    if status == 404:
        return routes.not_found(
            request, "Página não encontrada", "O endereço que você abriu não existe no console."
        )
    return routes.render(request, "error.html", {"status": status}, status_code=status)


def _unavailable_page(request: Request, exc: SincroError) -> Response:
    """503 in pt-BR while the database or the shared state is away (no user lookup: that
    needs the database)."""
    response = routes.render(request, "error.html", {"status": 503}, status_code=503)
    response.headers.update(exc.headers)
    return response


def _identify(request: Request) -> None:
    """Who is looking at an error page (for the navigation); nobody if that fails too."""
    try:
        routes.session_user(request)
    except Exception:
        request.state.console_user = None
