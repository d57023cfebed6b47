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
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
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


class PayloadTooLarge(SincroError):
    status_code = 413
    code = "payload_too_large"


class ErrorDetail(BaseModel):
    """The error itself; ``details`` lists every problem (e.g. every short line)."""

    code: str = Field(description="Stable machine-readable code, e.g. insufficient_stock")
    message: str = Field(description="Human-readable explanation")
    field: str | None = Field(
        default=None, description="The input at fault, e.g. movements[0].sku, If-Match, body"
    )
    details: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    """Every error answer has this shape, whatever its status."""

    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key",
    403: "The key's role or locations do not allow this",
    404: "Not found (or not visible to this key)",
    409: "Conflicts with the current state (e.g. insufficient stock, stale version)",
    412: "Precondition failed",
    413: "Request body too large",
    422: "Invalid input; ``field`` names it (movements[0].sku, body for malformed JSON)",
    428: "A required precondition header is missing",
    429: "Rate limit exceeded; see Retry-After",
    503: "A backing service (database, shared state) is unavailable; see Retry-After",
}


REF = "#/components/schemas/{model}"
ERROR_REF = REF.format(model="ErrorOut")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for a route's ``responses=``; :func:`document_errors`
    gives each the error shape."""
    return {s: {"description": ERROR_DESCRIPTIONS[s]} for s in statuses}


def document_errors(app: FastAPI, prefix: str = "/v1") -> None:
    """Declare, on every API operation, the errors any of them may answer: 401/403/429 (keys),
    422 (input: FastAPI's own schema replaced by the real shape), 413 for bodies, 404 where a
    path names something, 503 (database away). Routes declare their own on top (409, 428 …)
    with :func:`error_responses`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_error_docs(build(), prefix)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _add_error_docs(spec: dict[str, Any], prefix: str) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorDetail, ErrorOut):
        schema = model.model_json_schema(ref_template=REF)
        schema.pop("$defs", None)
        schemas[model.__name__] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            declared = [int(s) for s in responses if s.isdigit() and 400 <= int(s) < 600]
            for status in sorted({*_common_errors(path, operation, prefix), *declared}):
                responses[str(status)] = {
                    "description": ERROR_DESCRIPTIONS.get(status, "Error"),
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                }


def _common_errors(path: str, operation: dict[str, Any], prefix: str) -> list[int]:
    if not path.startswith(prefix):
        return []
    statuses = [401, 403, 422, 429, 503]
    if "requestBody" in operation:
        statuses.append(413)
    if "{" in path:
        statuses.append(404)
    return statuses


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


class SharedStateUnavailable(SincroError):
    """The shared state (Redis: rate limits, counters, locks) refused, timed out or has no
    free connection within the pool's wait: try again shortly (never a 500)."""

    status_code = 503
    code = "shared_state_unavailable"

    def __init__(
        self, message: str = "the shared state (Redis) is unavailable; try again shortly"
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


# what a Redis that is down, silent or out of pooled connections raises (``MaxConnectionsError``
# and the blocking pool's "No connection available." are ``ConnectionError``s); a Redis that
# answers an error (a script bug, a wrong type) is a ``ResponseError``: unexpected, a 500
SHARED_STATE_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def unavailable(exc: BaseException) -> SincroError | None:
    """The 503 that ``exc`` stands for when a backing service (the database, the shared
    state) is unavailable, else None."""
    if isinstance(exc, SharedStateUnavailable):
        return exc
    if isinstance(exc, SHARED_STATE_ERRORS):
        return SharedStateUnavailable()
    return database_unavailable(exc)


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


LOCATIONS = ("body", "query", "path", "header", "cookie")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic/FastAPI error location in the house notation: ``("body", "movements", 0,
    "sku")`` becomes ``movements[0].sku``; a location with nothing below it (the body
    itself) keeps its name."""
    path = ""
    for part in loc[1:] if loc and loc[0] in LOCATIONS else loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or (str(loc[0]) if loc else "")


def _json_decode_detail(err: dict[str, Any], document: Any) -> dict[str, Any] | None:
    """Malformed JSON as ``field: "body"`` with line and column instead of a byte offset."""
    if err.get("type") != "json_invalid":
        return None
    ctx = err.get("ctx") or {}
    message = str(ctx.get("error") or err.get("msg") or "invalid JSON")
    line, column = _line_and_column(err, document)
    return {
        "field": "body",
        "message": f"malformed JSON at line {line}, column {column}: {message}",
        "type": "json_invalid",
        "line": line,
        "column": column,
    }


def _line_and_column(err: dict[str, Any], document: Any) -> tuple[int, int]:
    """FastAPI reports the character offset as the location's second part; count lines in
    the document it parsed (the error's ``body``) when there is one."""
    loc = err.get("loc", ())
    offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    text = document.decode(errors="replace") if isinstance(document, bytes) else document
    if not isinstance(text, str):
        return 1, offset + 1
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


async def _sincro_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SincroError)
    return error_response(exc.status_code, exc.body(), exc.headers)


def invalid_input_from(errors: list[Any], prefix: str = "", document: Any = None) -> InvalidInput:
    """One :class:`InvalidInput` naming the first bad field (``movements[0].sku``), listing
    every problem; ``document`` is the raw body, for the line and column of malformed JSON."""
    details = [
        _json_decode_detail(err, document)
        or {
            "field": prefix + field_path(err.get("loc", ())),
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
    return error_response(422, invalid_input_from(list(exc.errors()), document=exc.body).body())


# FastAPI's answer to a body it cannot decode at all (e.g. bytes that are not UTF-8)
BODY_PARSE_ERROR = "There was an error parsing the body"


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        unreadable = InvalidInput("body: not a UTF-8 JSON document", field="body")
        return error_response(422, unreadable.body())
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        403: "forbidden",
        413: "payload_too_large",
    }
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)}}
    return error_response(exc.status_code, body, getattr(exc, "headers", None))


async def _unavailable_error(request: Request, exc: Exception) -> Response:
    """A database or shared state that is down, silent or locked answers 503 with
    ``Retry-After`` (logged as a warning, with the cause); any other error of theirs is
    unexpected."""
    answer = unavailable(exc)
    if answer is None:
        return await _unexpected_error(request, exc)
    log.warning(
        "%s on %s %s: %s: %s",
        answer.code,
        request.method,
        request.url.path,
        type(exc).__name__,
        exc,
    )
    return error_response(answer.status_code, answer.body(), answer.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": {"code": "internal_error", "message": "unexpected server error"}}
    return error_response(500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SincroError, _sincro_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for error_class in (*DATABASE_ERRORS, *SHARED_STATE_ERRORS):
        app.add_exception_handler(error_class, _unavailable_error)
