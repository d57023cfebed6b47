"""HTTP API for availability, movements, counts and reservations (``/v1``)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.deps import AppState, ChannelKey, CurrentKey, StateDep, StoreKey, authorize
from sincro.errors import DatabaseUnavailable, InvalidInput, SincroError, invalid_input_from
from sincro.idempotency import IdempotencyKeyHeader, RequiredIdempotencyKey, run_idempotent
from sincro.inventory import availability, service
from sincro.inventory.metrics import RESERVATIONS
from sincro.inventory.runtime import availability_cache
from sincro.inventory.schemas import (
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

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="Product SKU")]
LocationPath = Annotated[str, Path(pattern=CODE_PATTERN, description="Location code")]


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
    openapi_extra={"security": [{"APIKeyHeader": []}]},
)
async def query_availability(body: AvailabilityQuery, request: Request) -> Response:
    """The online summary (or one location's row) for many SKUs at once, e.g. a listing page.
    Unknown SKUs are reported in ``unknown`` instead of failing the whole call."""
    await authorize(request)
    state = request.app.state.sincro
    cache = availability_cache(state)
    items, unknown, stale = [], [], False
    for sku in dict.fromkeys(body.skus):
        try:
            snap = await _snapshot(state, sku)
        except DatabaseUnavailable:
            raise
        except SincroError:
            unknown.append(sku)
            continue
        stale = stale or cache.stale(snap)
        items.append(
            availability.at_location(snap, body.location) if body.location else snap.summary()
        )
    return _mark_stale(_json({"items": items, "unknown": unknown}), stale)


@router.post("/movements", summary="Apply stock movements", response_model=MovementResult)
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


@router.put("/stock/{location}/{sku}", summary="Set an absolute count", response_model=LevelOut)
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
)
def post_reservation(
    body: ReservationIn,
    state: StateDep,
    key: ChannelKey,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Hold every line or none. Lines without a location are allocated from the locations that
    ship online, nearest to ``ship_to`` first, with the fewest splits. A 409 lists every short
    line. The hold stops counting the moment ``ttl_seconds`` runs out."""
    ttl = body.ttl_seconds or state.settings.reservation_default_ttl_seconds
    if ttl > state.settings.reservation_max_ttl_seconds:
        raise InvalidInput(
            f"ttl_seconds may be at most {state.settings.reservation_max_ttl_seconds}",
            field="ttl_seconds",
        )
    ship_to = (body.ship_to.lat, body.ship_to.lon) if body.ship_to else None

    def work(session: Session) -> dict[str, Any]:
        out = service.reserve(session, key.source, body.lines, ttl, ship_to, body.order_reference)
        return out.model_dump(mode="json")

    try:
        response = run_idempotent(
            state.run_write,
            f"reservations:{key.key_id}",
            idempotency_key,
            body.model_dump(mode="json"),
            work,
            status=201,
        ).response()
    except SincroError as exc:
        RESERVATIONS.labels(exc.code).inc()
        raise
    RESERVATIONS.labels("reserved").inc()
    return response


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: str, state: StateDep, _key: ChannelKey) -> Response:
    """A reservation with its held lines and status."""
    with state.db.read() as session:
        out = service.reservation_out(session, service.get_reservation(session, reservation_id))
    return _json(out.model_dump(mode="json"))


@router.post("/reservations/{reservation_id}/commit", response_model=ReservationOut)
def commit_reservation(reservation_id: str, state: StateDep, key: ChannelKey) -> Response:
    """Turn the hold into a sale (a sale movement per line). Committing twice is harmless."""
    out = state.run_write(lambda s: service.commit_reservation(s, reservation_id, key.source))
    RESERVATIONS.labels("committed").inc()
    return _json(out.model_dump(mode="json"))


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut)
def release_reservation(reservation_id: str, state: StateDep, key: ChannelKey) -> Response:
    """Give the held stock back at once."""
    out = state.run_write(lambda s: service.release_reservation(s, reservation_id, key.source))
    RESERVATIONS.labels("released").inc()
    return _json(out.model_dump(mode="json"))


@router.post("/reservations/{reservation_id}/extend", response_model=ReservationOut)
def extend_reservation(
    reservation_id: str, body: ExtendIn, state: StateDep, _key: ChannelKey
) -> Response:
    """Keep an active, unexpired hold for ``ttl_seconds`` from now."""
    if body.ttl_seconds > state.settings.reservation_max_ttl_seconds:
        raise InvalidInput(
            f"ttl_seconds may be at most {state.settings.reservation_max_ttl_seconds}",
            field="ttl_seconds",
        )
    out = state.run_write(lambda s: service.extend_reservation(s, reservation_id, body.ttl_seconds))
    return _json(out.model_dump(mode="json"))
