"""``POST /v1/reservations`` ahead of FastAPI's stack (a :mod:`sincro.fastroutes` route).

In a flash sale nearly every request is the lean shape: one line at a named location, a key
this process authenticated seconds ago. For those, FastAPI's plumbing (middleware chain,
routing, dependency solving, validation of each parameter) costs more CPU than the
one-statement reservation itself. This handler does the same steps directly:

1. **Decide, without effects.** JSON content type, a declared length within the body cap, an
   API key in the process's key cache, a valid ``Idempotency-Key`` length, a body that
   :class:`ReservationIn` (the route's own model, so every field rule is the same) validates
   straight from its bytes (``model_validate_json``, no dict in between; what its parser
   refuses and ``json.loads`` may take — NaN, a lone surrogate, a BOM — is handed over), one
   line naming its location, no ``ship_to``. Anything else — an invalid or oversized body, an
   unknown key, another shape, a header sent twice — is handed to the documented route with
   the body replayed, which answers as it always does: no rate limit token was taken and
   nothing was written before that decision.
2. **Answer as the route would.** The rate limit (429), the channel role (403), then
   :func:`sincro.inventory.endpoints.reserve` — the route's own code: TTL bound, the lean path
   or the general one, the reservation counters — and :class:`Outcome`'s response, sent as
   its two ASGI messages (:meth:`Outcome.send`, no Starlette ``Response``). Errors are
   rendered by the application's exception handlers, and the latency metric is recorded, by
   the dispatcher.

``SINCRO_INVENTORY_FAST_RESERVE=false`` turns it off; ``sincro_reservation_fast_path_total``
counts what it answered and what it handed over.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from sincro.access import service as access
from sincro.bodylimits import route_cap
from sincro.deps import AppState, cached_key, rate_limit
from sincro.fastroutes import FastRequest, FastRoute, Handler
from sincro.idempotency import MAX_KEY_LENGTH
from sincro.inventory import endpoints
from sincro.inventory.metrics import FAST_PATH
from sincro.inventory.schemas import ReservationIn
from sincro.metrics import decisions

METHOD, PATH = "POST", "/v1/reservations"

Decided = tuple[access.Principal, ReservationIn, str | None]


def install(state: AppState) -> None:
    """Register the fast route, unless the deployment turned it off."""
    if state.settings.inventory_fast_reserve:
        route = FastRoute(METHOD, PATH, handler(state))
        state.fast_routes[route.key] = route


def handler(state: AppState) -> Handler:
    answered, handed_over = decisions(FAST_PATH)
    cap: list[int] = []  # the route's body cap, read at the first request (routes declare it)

    async def handle(scope: Scope, receive: Receive, send: Send) -> Receive | int:
        if not cap:
            cap.append(route_cap(METHOD, PATH) or state.settings.api_body_max_bytes)
        request = FastRequest(scope, receive)
        decided = await _decide(state, request, cap[0])
        if decided is None:
            handed_over.inc()
            return request.hand_over()
        answered.inc()
        key, body, idempotency_key = decided
        await rate_limit(state, key)
        key.require(access.Role.channel)
        outcome = await endpoints.reserve(state, key, body, idempotency_key)
        await outcome.send(send)  # what outcome.response() sends, without building it
        return outcome.status_code

    return handle


async def _decide(state: AppState, request: FastRequest, cap: int) -> Decided | None:
    """The key, the body and the Idempotency-Key when this request is the lean shape and
    valid; None when the documented route must answer (nothing was changed)."""
    headers = request.headers
    if not request.sends_json:
        return None
    key = cached_key(state, headers.get("x-api-key"), headers.get("authorization"))
    idempotency_key = headers.get("idempotency-key")
    if key is None or (idempotency_key is not None and not idempotency_key):
        return None
    if idempotency_key is not None and len(idempotency_key) > MAX_KEY_LENGTH:
        return None
    raw = await request.body(cap)
    if raw is None:
        return None
    try:  # the bytes validated as they are: no dict of Python objects in between
        body = ReservationIn.model_validate_json(raw)
    except ValidationError:
        return None
    if body.ship_to is not None or len(body.lines) != 1 or body.lines[0].location is None:
        return None
    return key, body, idempotency_key
