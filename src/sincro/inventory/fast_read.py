"""``GET /v1/availability/{sku}`` ahead of FastAPI's stack (a :mod:`sincro.fastroutes` route).

Nearly every availability read is one of two shapes: the online summary of a SKU, or its row
at one location (``?location=CODE``), asked with a key this process authenticated seconds ago,
of a SKU whose snapshot is in the cache. The answer is then bytes the cache already holds (the
summary's JSON is memoised until the next patch) or one row away from them, and FastAPI's
plumbing — the middleware chain, routing, the route's own parsing — is most of the request's
CPU. This handler does the documented route's steps directly:

1. **Decide, without effects.** The SKU (the path's one parameter segment) matches the route's
   pattern; the query is empty or exactly ``location=CODE`` (a plain code, nothing percent-
   encoded); the key (``X-API-Key`` or ``Authorization: Bearer``, each sent at most once) is in
   the process's key cache; the SKU's snapshot is fresh in the cache
   (:meth:`AvailabilityCache.peek`, which also queues a due background refresh, as for the
   documented route) and knows the location. Anything else — another query (``near``, ``all``,
   an invalid value), an unknown key or SKU or location, a cold or expired snapshot — goes to
   the documented route untouched, which answers as it always does (loading, 404/422 naming the
   field, 401, 503, ``Sincro-Stale``).
2. **Answer as the route would.** The rate limit (429), then the same bytes: the summary's
   memoised JSON, or :func:`availability.at_location` encoded the same way, with the same
   ``content-length`` and ``content-type`` headers. Errors are rendered by the application's
   exception handlers, and the latency metric recorded, by the dispatcher.

Figures are exactly the documented route's: both read the same snapshot, patched by the
change feed as events arrive; neither keeps a copy of its own.

``SINCRO_INVENTORY_FAST_READ=false`` turns it off; ``sincro_availability_fast_path_total``
counts what it answered and what it handed over.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import Receive, Scope, Send

from sincro.access import service as access
from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.deps import AppState, allowed_now, cached_key, rate_limit
from sincro.fastroutes import FastRoute, Handler
from sincro.inventory import availability
from sincro.inventory.metrics import FAST_READ
from sincro.inventory.runtime import availability_cache
from sincro.metrics import decisions

METHOD, PATH, PREFIX = "GET", "/v1/availability/{sku}", "/v1/availability/"
_SKU = re.compile(SKU_PATTERN)
_LOCATION_QUERY = re.compile(b"location=(" + CODE_PATTERN.strip("^$").encode() + b")")
_JSON = (b"content-type", b"application/json")


def install(state: AppState) -> None:
    """Register the fast route, unless the deployment turned it off."""
    if state.settings.inventory_fast_read:
        route = FastRoute(METHOD, PATH, handler(state))
        state.fast_routes[route.key] = route


def handler(state: AppState) -> Handler:
    answered, handed_over = decisions(FAST_READ)
    cache = availability_cache(state)
    start = len(PREFIX)

    async def handle(scope: Scope, receive: Receive, send: Send) -> Receive | int:
        decided = _decide(state, scope, cache, start)
        if decided is None:
            handed_over.inc()
            return receive  # nothing was read
        answered.inc()
        key, snap, code = decided
        if not allowed_now(state, key):
            await rate_limit(state, key)
        body = (
            snap.summary_json()
            if code is None
            else orjson.dumps(availability.at_location(snap, code))
        )
        headers = [(b"content-length", str(len(body)).encode()), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return 200

    return handle


def _decide(
    state: AppState, scope: Scope, cache: availability.AvailabilityCache, start: int
) -> tuple[access.Principal, availability.SkuSnapshot, str | None] | None:
    """The key, the snapshot and the location when this read is one of the two shapes and
    everything it needs is in this process; None when the documented route must answer."""
    sku: str = scope["path"][start:]
    if _SKU.fullmatch(sku) is None:
        return None
    code = None
    query: bytes = scope["query_string"]
    if query:
        found = _LOCATION_QUERY.fullmatch(query)
        if found is None:
            return None
        code = found.group(1).decode()
    x_api_key = authorization = None
    for name, value in scope["headers"]:  # names in lower case, as ASGI servers give them
        if name == b"x-api-key":
            if x_api_key is not None:
                return None
            x_api_key = value.decode("latin-1")
        elif name == b"authorization":
            if authorization is not None:
                return None
            authorization = value.decode("latin-1")
    key = cached_key(state, x_api_key, authorization)
    if key is None:
        return None
    snap = cache.peek(sku)
    if snap is None or (code is not None and code not in snap.directory.by_code):
        return None
    return key, snap, code
