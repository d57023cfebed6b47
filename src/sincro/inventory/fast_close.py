"""``POST /v1/reservations/{reservation_id}/commit`` and ``/release`` ahead of FastAPI's stack
(:mod:`sincro.fastroutes` routes), as :mod:`sincro.inventory.fast` does for reservations.

A flash sale's commits and releases are 1 % of its requests but, through the documented
routes (middleware chain, routing, dependency solving, a thread of the pool for a blocking
statement), each cost ~3.5x a lean reservation of the api's CPU: about a tenth of the mix's.
Here:

1. **Decide, without effects.** No body (the routes take none: no ``Content-Length`` above 0,
   no ``Transfer-Encoding``), no header sent twice, an API key in the process's key cache, a
   reservation id the route's own pattern accepts. Anything else is handed to the documented
   route, which answers as it always does: nothing was taken or written before.
2. **Answer as the route would.** The rate limit (429), the channel role (403), then
   :func:`sincro.inventory.endpoints.close_reservation`: on PostgreSQL the lean statement
   (:mod:`~sincro.inventory.lean_close`) on the reservation loop's connections, else (SQLite,
   or a case the statement leaves to it: 404, the idempotent 200, 409) the general path in a
   thread — the route's own code, counted as the route counts it. Errors are rendered by the
   application's exception handlers, and the latency metric is recorded, by the dispatcher.

``SINCRO_INVENTORY_FAST_RESERVE=false`` turns these off with the reservation's fast route;
``sincro_reservation_fast_path_total`` counts what they answered and handed over.
"""

from __future__ import annotations

import re

from starlette.types import Receive, Scope, Send

from sincro.access import service as access
from sincro.deps import AppState, cached_key, rate_limit
from sincro.fastroutes import FastRequest, FastRoute, Handler
from sincro.idempotency import Outcome
from sincro.inventory import endpoints
from sincro.inventory.metrics import FAST_PATH
from sincro.inventory.models import ReservationStatus
from sincro.metrics import decisions

METHOD, PREFIX = "POST", "/v1/reservations/"
ACTIONS = {"commit": ReservationStatus.committed, "release": ReservationStatus.released}
RESERVATION_ID = re.compile(endpoints.RESERVATION_ID_PATTERN)


def install(state: AppState) -> None:
    """Register both routes, unless the deployment turned the fast reservation routes off."""
    if not state.settings.inventory_fast_reserve:
        return
    for action, target in ACTIONS.items():
        suffix = f"/{action}"
        route = FastRoute(
            METHOD, f"{PREFIX}{{reservation_id}}{suffix}", handler(state, suffix, target)
        )
        state.fast_routes[route.key] = route


def handler(state: AppState, suffix: str, target: ReservationStatus) -> Handler:
    answered, handed_over = decisions(FAST_PATH)

    async def handle(scope: Scope, receive: Receive, send: Send) -> Receive | int:
        request = FastRequest(scope, receive)
        # the dispatcher matched the template: one non-empty segment between the two
        reservation_id = scope["path"][len(PREFIX) : -len(suffix)]
        key = _decide(state, request, reservation_id)
        if key is None:
            handed_over.inc()
            return request.hand_over()
        answered.inc()
        await rate_limit(state, key)
        key.require(access.Role.channel)
        out = await endpoints.close_reservation(state, reservation_id, key, target)
        await Outcome(200, out, replayed=False).send(send)
        return 200

    return handle


def _decide(state: AppState, request: FastRequest, reservation_id: str) -> access.Principal | None:
    """The key when the request is one the fast route answers; None to hand it over."""
    headers = request.headers
    if request.repeated or "transfer-encoding" in headers:
        return None
    if headers.get("content-length", "0") != "0":
        return None
    if RESERVATION_ID.fullmatch(reservation_id) is None:
        return None
    return cached_key(state, headers.get("x-api-key"), headers.get("authorization"))
