"""Typed domain errors and the one JSON shape every error is rendered in.

Services raise :class:`SincroError` subclasses; they never raise HTTP exceptions. The handlers
installed by :func:`install_error_handlers` render every error, including FastAPI's validation
errors and unexpected ones, as::

    {"error": {"code": "...", "message": "...", "field": "...", "details": [...]}}
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from sincro.db import is_unavailable

log = logging.getLogger("sincro.errors")


class SincroError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}


class InvalidInput(SincroError):
    status_code = 422
    code = "invalid_input"


class NotFound(SincroError):
    status_code = 404
    code = "not_found"


class Conflict(SincroError):
    status_code = 409
    code = "conflict"


class Unauthorized(SincroError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SincroError):
    status_code = 403
    code = "forbidden"


class RateLimited(SincroError):
    status_code = 429
    code = "rate_limited"


DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(SincroError):
    """The database refused, timed out or is locked: try again shortly (never a 500)."""

    status_code = 503
    code = "database_unavailable"

    def __init__(self, message: str = "the database is unavailable; try again shortly") -> None:
        super().__init__(message, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


# what a database that is down, silent or locked raises (narrowed by ``db.is_unavailable``)
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 that ``exc`` stands for, when it says the database is unavailable."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    return DatabaseUnavailable() if is_unavailable(exc) else None


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


async def _sincro_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SincroError)
    return error_response(exc.status_code, exc.body(), exc.headers)


def invalid_input_from(errors: list[Any], prefix: str = "") -> InvalidInput:
    """One :class:`InvalidInput` naming the first bad field, listing every problem."""
    details = [
        {
            "field": prefix + _field_of(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in errors
    ]
    first = details[0] if details else {"field": None, "message": "invalid request"}
    return InvalidInput(
        f"{first['field']}: {first['message']}", field=first["field"], details=details
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, invalid_input_from(list(exc.errors())).body())


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)}}
    return error_response(exc.status_code, body, getattr(exc, "headers", None))


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that is down, silent or locked answers 503 with ``Retry-After``; any other
    database error is unexpected."""
    unavailable = database_unavailable(exc)
    if unavailable is None:
        return await _unexpected_error(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(unavailable.status_code, unavailable.body(), unavailable.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": {"code": "internal_error", "message": "unexpected server error"}}
    return error_response(500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SincroError, _sincro_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for error_class in DATABASE_ERRORS:
        app.add_exception_handler(error_class, _database_error)
