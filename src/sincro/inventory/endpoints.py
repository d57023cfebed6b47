"""HTTP API for availability, movements, counts and reservations (``/v1``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.access.service import Principal
from sincro.bodylimits import declare_cap
from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.deps import (
    AppState,
    ChannelKey,
    CurrentKey,
    LeanChannelKey,
    StateDep,
    StoreKey,
    authorize,
)
from sincro.errors import InvalidInput, SincroError, error_responses, invalid_input_from
from sincro.idempotency import (
    IdempotencyKeyHeader,
    Outcome,
    RequiredIdempotencyKey,
    request_hash,
    run_idempotent,
)
from sincro.inventory import availability, lean, lean_close, service
from sincro.inventory.metrics import RESERVATIONS
from sincro.inventory.models import ReservationStatus
from sincro.inventory.runtime import (
    availability_cache,
    close_on_loop,
    in_reservation_thread,
    reserve_lean,
)
from sincro.inventory.schemas import (
    AvailabilityBatchOut,
    AvailabilityOut,
    AvailabilityParams,
    AvailabilityQuery,
    ExtendIn,
    LevelOut,
    MovementBatch,
    MovementResult,
    ReservationIn,
    ReservationOut,
    StockCountIn,
)

router = APIRouter(prefix="/v1", tags=["inventory"])
RESERVED = RESERVATIONS.labels("reserved")
MOVEMENTS_MAX_BODY_BYTES = 4 * 1024 * 1024  # 500 lines with long references fit many times
declare_cap("POST", "/v1/movements", MOVEMENTS_MAX_BODY_BYTES)

# Reservation ids are UUIDs; anything else of these characters is simply unknown (404), while
# NUL and other bytes no database stores are refused up front (422, never a 500).
RESERVATION_ID_PATTERN = r"^[0-9A-Za-z-]{1,36}$"

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="Product SKU")]
LocationPath = Annotated[str, Path(pattern=CODE_PATTERN, description="Location code")]
ReservationIdPath = Annotated[
    str,
    Path(
        pattern=RESERVATION_ID_PATTERN,
        max_length=36,
        description="Reservation id (a UUID) as returned by POST /v1/reservations",
    ),
]


# What a client does next with a reservation (OpenAPI links; the stateful fuzzer follows them).
RESERVATION_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"reservation_id": "$response.body#/id"},
        "description": description,
    }
    for name, operation, description in [
        ("GetReservation", "get_reservation", "Read it"),
        ("CommitReservation", "commit_reservation", "Turn it into a sale"),
        ("ReleaseReservation", "release_reservation", "Give the stock back"),
        ("ExtendReservation", "extend_reservation", "Keep it longer"),
    ]
}


class PreconditionRequired(SincroError):
    status_code = 428
    code = "precondition_required"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _parse_point(value: str, field: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = value.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise InvalidInput(f"{field} must be 'lat,lon', e.g. -23.55,-46.63", field=field) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"{field} is outside valid coordinates", field=field)
    return lat, lon


async def _snapshot(state: AppState, sku: str) -> availability.SkuSnapshot:
    cache = availability_cache(state)
    snap = cache.peek(sku)
    if snap is None:
        snap = await run_in_threadpool(cache.get, sku)
    return snap


DEFAULT_PARAMS = AvailabilityParams()


def query_params_doc(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI entries for query parameters validated by hand from ``model``."""
    schema = model.model_json_schema(by_alias=True)
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": prop,
            "description": prop.get("description", ""),
        }
        for name, prop in schema["properties"].items()
    ]


def _params(request: Request) -> AvailabilityParams:
    if not request.url.query:
        return DEFAULT_PARAMS
    try:
        return AvailabilityParams.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise invalid_input_from(exc.errors()) from None


@router.get(
    "/availability/{sku}",
    summary="Availability of one SKU",
    responses={200: {"model": AvailabilityOut}},
    openapi_extra={
        "parameters": query_params_doc(AvailabilityParams),
        "security": [{"APIKeyHeader": []}],
    },
)
async def get_availability(sku: SkuPath, request: Request) -> Response:
    """Online availability (sum over locations that ship online) and the number of locations
    with stock. Add ``location=CODE`` for one location, ``near=lat,lon&radius_km=`` for
    locations with stock around a point (nearest first), or ``all=true`` for every location.

    This is the hottest endpoint: it authenticates and validates by hand rather than through
    FastAPI dependencies, which cost more than the whole cached read."""
    await authorize(request)
    params = _params(request)
    state = request.app.state.sincro
    snap = await _snapshot(state, sku)
    if params.location:
        if params.location not in snap.directory.by_code:  # maybe newer than the snapshot
            snap = await run_in_threadpool(availability_cache(state).get_at, sku, params.location)
        response = _json(availability.at_location(snap, params.location))
    elif params.near:
        lat, lon = _parse_point(params.near, "near")
        response = _json(availability.near(snap, lat, lon, params.radius_km, params.limit))
    elif params.all_locations:
        response = _json(
            availability.all_locations(snap, params.offset, params.limit, params.in_stock)
        )
    else:
        response = Response(snap.summary_json(), media_type="application/json")
    return _mark_stale(response, availability_cache(state).stale(snap))


STALE_HEADER = "Sincro-Stale"


def _mark_stale(response: Response, stale: bool) -> Response:
    """``Sincro-Stale: true`` on figures served past the cache TTL while the database is
    unavailable (they are the last known ones, patched by every event seen until then)."""
    if stale:
        response.headers[STALE_HEADER] = "true"
    return response


@router.post(
    "/availability/query",
    summary="Availability of up to 500 SKUs",
    responses={200: {"model": AvailabilityBatchOut}},
    openapi_extra={"security": [{"APIKeyHeader": []}]},
)
async def query_availability(body: AvailabilityQuery, request: Request) -> Response:
    """The online summary (or one location's row) for many SKUs at once, e.g. a listing page.
    Unknown SKUs are reported in ``unknown`` instead of failing the whole call; SKUs missing
    from the cache are read together, in one pass."""
    await authorize(request)
    cache = availability_cache(request.app.state.sincro)
    body_out, stale = await run_in_threadpool(_query, cache, body)
    return _mark_stale(_json(body_out), stale)


def _query(
    cache: availability.AvailabilityCache, body: AvailabilityQuery
) -> tuple[dict[str, Any], bool]:
    """The batch's answer, and whether any figure in it is stale (database away)."""
    skus = list(dict.fromkeys(body.skus))
    snaps = cache.get_many(skus)
    items, stale = [], False
    for sku in skus:
        snap = snaps.get(sku)
        if snap is None:
            continue
        if body.location is not None and body.location not in snap.directory.by_code:
            snap = cache.get_at(sku, body.location)
        stale = stale or cache.stale(snap)
        items.append(
            snap.summary()
            if body.location is None
            else availability.at_location(snap, body.location)
        )
    return {"items": items, "unknown": [sku for sku in skus if sku not in snaps]}, stale


@router.post(
    "/movements",
    summary="Apply stock movements",
    response_model=MovementResult,
    responses=error_responses(404, 409, 428),
)
def post_movements(
    batch: MovementBatch,
    state: StateDep,
    key: StoreKey,
    idempotency_key: RequiredIdempotencyKey,
) -> Response:
    """Signed deltas from stores, POS and ERPs, applied all or none. A store key may only move
    stock of its own locations. Retrying with the same ``Idempotency-Key`` is harmless."""
    for i, movement in enumerate(batch.movements):
        try:
            key.require_location(movement.location)
        except SincroError as exc:
            exc.field = f"movements[{i}].location"
            raise
    payload = batch.model_dump(mode="json")

    def work(session: Session) -> dict[str, Any]:
        levels = service.apply_movements(session, key.source, batch.movements, idempotency_key)
        return MovementResult(applied=len(levels), levels=levels).model_dump(mode="json")

    scope = f"movements:{key.key_id}"
    return run_idempotent(state.run_write, scope, idempotency_key, payload, work).response()


@router.get("/stock/{location}/{sku}", summary="One stock level", response_model=LevelOut)
def get_stock(location: LocationPath, sku: SkuPath, state: StateDep, _key: CurrentKey) -> Response:
    """The stored level with its version (also sent as ``ETag`` for ``If-Match``)."""
    with state.db.read() as session:
        level = service.get_level(session, location, sku)
    return _json(level.model_dump(mode="json"), headers={"ETag": f'"{level.version}"'})


@router.put(
    "/stock/{location}/{sku}",
    summary="Set an absolute count",
    response_model=LevelOut,
    responses=error_responses(409, 428),
)
def put_stock(
    location: LocationPath,
    sku: SkuPath,
    body: StockCountIn,
    request: Request,
    state: StateDep,
    key: StoreKey,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Set on-hand to a counted quantity. ``If-Match`` must carry the current version (from
    GET or the ETag); a stale version answers 409 with the current one. ``If-Match: *``
    overwrites whatever is there."""
    key.require_location(location)
    if not if_match:
        raise PreconditionRequired(
            "If-Match with the level's version is required", field="If-Match"
        )
    expected = None if if_match.strip() == "*" else _version_of(if_match)
    level = state.run_write(
        lambda s: service.set_count(
            s, key.source, location, sku, body, expected, actor=key.actor(request)
        )
    )
    return _json(level.model_dump(mode="json"), headers={"ETag": f'"{level.version}"'})


def _version_of(header: str) -> int:
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidInput('If-Match must be a version number such as "12"', field="If-Match")
    return int(text)


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationOut,
    summary="Reserve stock for an order or cart",
    responses={
        **error_responses(404, 409),
        201: {"description": "The reservation", "links": RESERVATION_LINKS},
    },
    openapi_extra={"security": [{"APIKeyHeader": []}]},
)
async def post_reservation(
    body: ReservationIn,
    request: Request,
    key: LeanChannelKey,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Hold every line or none. Lines without a location are allocated from the locations that
    ship online, nearest to ``ship_to`` first, with the fewest splits. A 409 lists every short
    line. The hold stops counting the moment ``ttl_seconds`` runs out.

    The flash-sale path: one dependency authenticates (no chain), and a one-line reservation
    at a named location is decided in one statement (:mod:`sincro.inventory.lean`); anything
    else takes the general path. Requests of the lean shape are usually answered before they
    get here, by :mod:`sincro.inventory.fast` (same contract, without FastAPI's plumbing)."""
    state: AppState = request.app.state.sincro
    return (await reserve(state, key, body, idempotency_key)).response()


async def reserve(
    state: AppState, key: Principal, body: ReservationIn, idempotency_key: str | None
) -> Outcome:
    """The reservation once the request is authenticated, rate limited and its body valid:
    the deployment's TTL bound, then the lean or the general path, counted by outcome."""
    ttl = body.ttl_seconds or state.settings.reservation_default_ttl_seconds
    _check_ttl(state, ttl)
    asked = _Asked(key, body, ttl, f"reservations:{key.key_id}", idempotency_key)
    try:
        lean_request = _lean_request(asked)
        outcome, tried = await _lean_on_loop(state, lean_request)
        if outcome is None:
            outcome = await in_reservation_thread(
                state, _reserve, state, asked, None if tried else lean_request
            )
    except SincroError as exc:
        RESERVATIONS.labels(exc.code).inc()
        raise
    RESERVED.inc()
    return outcome


@dataclass(frozen=True, slots=True)
class _Asked:
    """A valid reservation request, as both paths read it."""

    key: Principal
    body: ReservationIn
    ttl: int
    scope: str  # of its Idempotency-Key
    idempotency_key: str | None
    # the body as JSON, of which the Idempotency-Key's request hash is made (both paths read
    # it): None without a key (nothing compares it then, and its dump is not free)
    payload: dict[str, Any] | None = field(init=False)

    def __post_init__(self) -> None:
        dumped = None if self.idempotency_key is None else self.body.model_dump(mode="json")
        object.__setattr__(self, "payload", dumped)

    @property
    def idempotency(self) -> tuple[str, str, str] | None:
        """(scope, Idempotency-Key, request hash) as :func:`run_idempotent` makes them."""
        if self.idempotency_key is None:
            return None
        return self.scope, self.idempotency_key, request_hash(self.payload)


def _lean_request(asked: _Asked) -> lean.LeanReservation | None:
    """The lean path's request, when the reservation is its shape (one line, located)."""
    body, key = asked.body, asked.key
    line = body.lines[0]
    if len(body.lines) != 1 or line.location is None:
        return None
    return lean.LeanReservation(
        channel=key.source,
        owner_key_id=key.key_id,
        sku=line.sku,
        location=line.location,
        qty=line.qty,
        ttl_seconds=asked.ttl,
        order_reference=body.order_reference,
        customer_id=body.customer_id,
        idempotency=asked.idempotency,
    )


async def _lean_on_loop(
    state: AppState, req: lean.LeanReservation | None
) -> tuple[Outcome | None, bool]:
    """The lean path from the event loop when this process knows the SKU and location
    (:func:`~sincro.inventory.runtime.reserve_lean` chooses where it runs): its answer, and
    whether it was tried (then the thread goes straight to the general path when it did not
    answer)."""
    if req is None:
        return None, False
    ids = lean.known_ids(state.db, req)
    if ids is None:
        return None, False
    return await reserve_lean(state, req, ids), True


def _reserve(state: AppState, asked: _Asked, lean_request: lean.LeanReservation | None) -> Outcome:
    """The lean path when ``lean_request`` is given and it answers, else the general one
    (blocking)."""
    if lean_request is not None:
        held = lean.reserve(state.db, lean_request)
        if held is not None:
            return held
    body, key = asked.body, asked.key
    ship_to = (body.ship_to.lat, body.ship_to.lon) if body.ship_to else None

    def work(session: Session) -> dict[str, Any]:
        out = service.reserve(
            session,
            key.source,
            body.lines,
            asked.ttl,
            ship_to,
            body.order_reference,
            owner_key_id=key.key_id,
            customer_id=body.customer_id,
        )
        return out.model_dump(mode="json")

    return run_idempotent(
        state.run_write, asked.scope, asked.idempotency_key, asked.payload, work, status=201
    )


def _reservation_action(action: str) -> Any:
    """The route of ``POST /v1/reservations/{id}/<action>`` (its operationId is a link target)."""
    return router.post(
        f"/reservations/{{reservation_id}}/{action}",
        response_model=ReservationOut,
        responses=error_responses(409),
        operation_id=f"{action}_reservation",
    )


def _check_ttl(state: AppState, ttl_seconds: int) -> None:
    """The deployment's bound on a hold's time to live (the schema's is the outer one)."""
    if ttl_seconds > state.settings.reservation_max_ttl_seconds:
        raise InvalidInput(
            f"ttl_seconds may be at most {state.settings.reservation_max_ttl_seconds}",
            field="ttl_seconds",
        )


def _owner(key: Principal) -> service.Owner:
    """Whose reservations ``key`` may see: its own, or every one for an admin key."""
    return service.ANY_OWNER if key.is_admin else key.key_id


@router.get(
    "/reservations/{reservation_id}",
    response_model=ReservationOut,
    operation_id="get_reservation",
)
def get_reservation(
    reservation_id: ReservationIdPath, state: StateDep, key: ChannelKey
) -> Response:
    """A reservation with its held lines and status. Only the key that made it (or an admin
    key) sees it; for any other key it is a 404, like a reservation that does not exist."""
    with state.db.read() as session:
        reservation = service.get_reservation(session, reservation_id, _owner(key))
        out = service.reservation_out(session, reservation)
    return _json(out.model_dump(mode="json"))


@_reservation_action("commit")
def commit_reservation(
    reservation_id: ReservationIdPath, state: StateDep, key: ChannelKey
) -> Response:
    """Turn the hold into a sale (a sale movement per line). Committing twice is harmless.
    Only the key that made the reservation (or an admin key) may commit it."""
    out = _close(state, reservation_id, key, ReservationStatus.committed)
    RESERVATIONS.labels("committed").inc()
    return _json(out)


@_reservation_action("release")
def release_reservation(
    reservation_id: ReservationIdPath, state: StateDep, key: ChannelKey
) -> Response:
    """Give the held stock back at once. Only the key that made the reservation (or an admin
    key) may release it."""
    out = _close(state, reservation_id, key, ReservationStatus.released)
    RESERVATIONS.labels("released").inc()
    return _json(out)


def _close(
    state: AppState, reservation_id: str, key: Principal, target: ReservationStatus
) -> dict[str, Any]:
    """Commit or release (blocking): the lean statement when it closes the reservation, else
    the general path, which answers every other case (:mod:`~sincro.inventory.lean_close`)."""
    out = lean_close.close(state.db, reservation_id, key.source, _owner(key), target)
    return out if out is not None else _close_general(state, reservation_id, key, target)


async def close_reservation(
    state: AppState, reservation_id: str, key: Principal, target: ReservationStatus
) -> dict[str, Any]:
    """:func:`_close` from the event loop (the fast routes, :mod:`~sincro.inventory.fast_close`):
    on PostgreSQL the lean statement on the reservation loop, the general path in a thread;
    the same answers and errors, and the same count of closed reservations."""
    out = None
    if not state.db.is_sqlite:
        out = await close_on_loop(state, reservation_id, key.source, _owner(key), target)
    if out is None:
        out = await run_in_threadpool(_close_general, state, reservation_id, key, target)
    RESERVATIONS.labels(target.value).inc()
    return out


def _close_general(
    state: AppState, reservation_id: str, key: Principal, target: ReservationStatus
) -> dict[str, Any]:
    owner = _owner(key)
    close = (
        service.commit_reservation
        if target == ReservationStatus.committed
        else service.release_reservation
    )
    general = state.run_write(lambda s: close(s, reservation_id, key.source, owner))
    return general.model_dump(mode="json")


@_reservation_action("extend")
def extend_reservation(
    reservation_id: ReservationIdPath, body: ExtendIn, state: StateDep, key: ChannelKey
) -> Response:
    """Keep an active, unexpired hold for ``ttl_seconds`` from now."""
    _check_ttl(state, body.ttl_seconds)
    out = state.run_write(
        lambda s: service.extend_reservation(s, reservation_id, body.ttl_seconds, _owner(key))
    )
    return _json(out.model_dump(mode="json"))
