"""Typed domain errors and the one JSON shape every error is rendered in.

Services raise :class:`SincroError` subclasses; they never raise HTTP exceptions. The handlers
installed by :func:`install_error_handlers` render every error, including FastAPI's validation
errors and unexpected ones, as::

    {"error": {"code": "...", "message": "...", "field": "...", "details": [...]}}
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

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


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)}}
    return error_response(exc.status_code, body, getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": {"code": "internal_error", "message": "unexpected server error"}}
    return error_response(500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SincroError, _sincro_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
