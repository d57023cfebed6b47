"""The console's shell: sign-in and sign-out, the signed-in user, page rendering and helpers.

Pages are server-rendered Jinja2 templates. The session (a signed cookie, see
:func:`sincro.console.mount_console`) holds the user's id, a CSRF token and a random session id
registered in the shared state (:mod:`sincro.access.signin`); the registration and the user
row are checked on every page, so sign-out ends a session at once everywhere and a disabled
user is signed out at their next click.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.routing import NoMatchFound

from sincro import __version__
from sincro.access import service as access, signin
from sincro.access.runtime import sign_in_guard
from sincro.clients import client_address
from sincro.console import formatting
from sincro.deps import AppState
from sincro.domain import NavEntry
from sincro.domains import installed
from sincro.errors import RateLimited, Unauthorized

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
HOME_ROUTE = "console_skus"
SIGN_IN_FAILED = "E-mail ou senha inválidos"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=TEMPLATES_DIR)
formatting.install(templates.env)
router = APIRouter(prefix="/console", include_in_schema=False)


@cache
def navigation() -> tuple[NavEntry, ...]:
    """Every installed domain's console entries, in their declared order."""
    entries = [entry for domain in installed() for entry in domain.nav]
    return tuple(sorted(entries, key=lambda entry: entry.order))


@dataclass(frozen=True, slots=True)
class SessionUser:
    id: int
    email: str
    name: str
    role: str


class SignInRequired(Exception):
    """Raised by :func:`current_user`; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# --- helpers --------------------------------------------------------------------------------


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.sincro
    return state


def url(
    request: Request, name: str, /, query: Mapping[str, Any] | None = None, **params: Any
) -> str:
    """The path of a named route (with the app's root path), plus an optional query string."""
    quoted = {key: quote(str(value), safe="/") for key, value in params.items()}
    path = request.url_for(name, **quoted).path
    filled = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{path}?{urlencode(filled)}" if filled else path


def static_url(request: Request, path: str) -> str:
    return url(request, "console_static", {"v": __version__}, path=path)


def with_query(request: Request, **changes: Any) -> str:
    """The current page's path and query with some parameters replaced (pagination links)."""
    params = dict(request.query_params)
    params.update({key: str(value) for key, value in changes.items()})
    filled = {k: v for k, v in params.items() if v != ""}
    path = quote(request.url.path, safe="/")
    return f"{path}?{urlencode(filled)}" if filled else path


def route_exists(request: Request, name: str) -> bool:
    try:
        request.app.url_path_for(name)
    except NoMatchFound:
        return False
    return True


def csrf_token(request: Request) -> str:
    """The session's anti-forgery token for POST forms (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), submitted.encode())


def safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: only a path inside the console, never another site."""
    home = url(request, HOME_ROUTE)
    if not value or "\\" in value:
        return home
    parts = urlsplit(value)
    console_root = url(request, "console_home")
    inside = parts.path == console_root or parts.path.startswith(console_root + "/")
    if parts.scheme or parts.netloc or not inside:
        return home
    return value


@dataclass(frozen=True, slots=True)
class Pager:
    """One page of a list: 1-based ``page`` of ``per_page`` rows out of ``total``."""

    page: int
    per_page: int
    total: int

    @classmethod
    def parse(cls, value: str | None, per_page: int) -> Pager:
        """The page asked for in a query parameter (1 when missing or not a number)."""
        try:
            page = max(1, int(value or "1"))
        except ValueError:
            page = 1
        return cls(page, per_page, 0)

    def with_total(self, total: int) -> Pager:
        """The same page once the total is known, moved back to the last page if past it."""
        return Pager(min(self.page, max(1, math.ceil(total / self.per_page))), self.per_page, total)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first_row(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.per_page)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    section: str | None = None,
) -> Response:
    """Render a console template with the shell's context (user, navigation, helpers)."""
    user: SessionUser | None = getattr(request.state, "console_user", None)
    role = user.role if user is not None else None
    entry = next((e for e in navigation() if e.key == section), None)
    if entry is not None and user is not None and not entry.visible_to(role):
        section, template, status_code = None, "error.html", 403
        context = {"status": 403}
    shell = {
        "user": user,
        "section": section,
        "nav": [
            {"key": item.key, "label": item.label, "href": url(request, item.route)}
            for item in navigation()
            if item.visible_to(role) and route_exists(request, item.route)
        ],
        "csrf": csrf_token(request) if "session" in request.scope else "",
        "time_zone": app_state(request).settings.console_time_zone,
        "url": lambda name, query=None, **params: url(request, name, query, **params),
        "static": lambda path: static_url(request, path),
        "with_query": lambda **changes: with_query(request, **changes),
    }
    response = templates.TemplateResponse(
        request, template, {**shell, **(context or {})}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def not_found(request: Request, title: str, message: str) -> Response:
    """The friendly pt-BR 404 page."""
    return render(request, "not_found.html", {"title": title, "message": message}, status_code=404)


# --- the signed-in user ----------------------------------------------------------------------


def session_user(request: Request) -> SessionUser | None:
    """The active user behind the session cookie, or None (blocking: reads the shared state
    and the database). The cookie must name a session still registered in the shared state
    (sign-out deletes it, so a copied cookie stops working at once) and an active user."""
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int) or not _registered(request):
        request.session.pop("user_id", None)
        request.state.console_user = None
        return None
    with app_state(request).db.read() as session:
        row = access.active_user(session, user_id)
        user = SessionUser(row.id, row.email, row.name, row.role) if row else None
    if user is None:
        request.session.pop("user_id", None)
    request.state.console_user = user
    return user


def _registered(request: Request) -> bool:
    session_id, token = request.session.get("sid"), request.session.get("stoken")
    if not isinstance(session_id, str) or not isinstance(token, str):
        return False
    state = app_state(request)
    idle = state.settings.access_session_idle_seconds
    return signin.session_alive(state.shared, session_id, token, idle)


def current_user(request: Request) -> SessionUser:
    """Dependency of every console page: the signed-in user, else a redirect to sign in."""
    user = session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return user


ConsoleUserDep = Annotated[SessionUser, Depends(current_user)]


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`SignInRequired`."""
    next_url = exc.next_url if isinstance(exc, SignInRequired) else None
    return RedirectResponse(url(request, "console_sign_in", {"next": next_url}), status_code=303)


# --- routes --------------------------------------------------------------------------------


@router.get("", name="console_home")
def home(user: ConsoleUserDep, request: Request) -> Response:
    """The console's front door: the first section this user's role may see."""
    visible = [
        entry.route
        for entry in navigation()
        if entry.visible_to(user.role) and route_exists(request, entry.route)
    ]
    return RedirectResponse(url(request, visible[0] if visible else HOME_ROUTE), status_code=303)


@router.get("/sign-in", name="console_sign_in")
def sign_in_page(request: Request, next: str = "", signed_out: str = "") -> Response:
    """The sign-in form (e-mail and senha); signed-in users go straight on."""
    if session_user(request) is not None:
        return RedirectResponse(safe_next(request, next), status_code=303)
    notice = "Você saiu do console." if signed_out else None
    return render(request, "sign_in.html", {"next": next, "email": "", "notice": notice})


@router.post("/sign-in", name="console_sign_in_submit")
async def sign_in_submit(
    request: Request,
    email: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check e-mail and senha; on success start a fresh session and go to ``next``. Throttled
    per account and per address (429 with ``Retry-After`` and a pt-BR message)."""
    context = {"next": next, "email": email}
    if not csrf_ok(request, csrf):
        request.session.pop("csrf", None)
        error = "Sua sessão expirou. Tente entrar novamente."
        return render(request, "sign_in.html", {**context, "error": error}, status_code=400)
    state = app_state(request)
    try:
        guard = sign_in_guard(state)
        user_id = await guard.sign_in(email, password, client_address(request))
    except RateLimited as exc:
        response = render(
            request, "sign_in.html", {**context, "error": exc.message}, status_code=429
        )
        response.headers.update(exc.headers)
        return response
    except Unauthorized:
        return render(
            request, "sign_in.html", {**context, "error": SIGN_IN_FAILED}, status_code=401
        )
    idle = state.settings.access_session_idle_seconds
    session_id, token = await run_in_threadpool(signin.start_session, state.shared, idle)
    request.session.clear()
    request.session.update({"user_id": user_id, "sid": session_id, "stoken": token})
    csrf_token(request)
    return RedirectResponse(safe_next(request, next), status_code=303)


@router.post("/sign-out", name="console_sign_out")
def sign_out(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session (the form carries the CSRF token so other sites cannot sign you out);
    it is deleted from the shared state, so a copy of the cookie no longer signs anyone in."""
    if not csrf_ok(request, csrf):
        return RedirectResponse(url(request, "console_home"), status_code=303)
    session_id, token = request.session.get("sid"), request.session.get("stoken")
    if isinstance(session_id, str) and isinstance(token, str):
        signin.end_session(app_state(request).shared, session_id, token)
    request.session.clear()
    return RedirectResponse(url(request, "console_sign_in", {"signed_out": "1"}), status_code=303)
