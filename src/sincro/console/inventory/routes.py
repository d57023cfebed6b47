"""Console pages for stock: SKU search, one SKU (nearest stock, map, every location), the
locations directory, one location's stock and the live feed.

Pages read through the same services and availability cache as the API. Routes are plain
``def`` functions, so FastAPI runs their blocking database reads in its threadpool; only the
feed stream is ``async``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sincro.catalog import service as catalog
from sincro.catalog.schemas import CODE_PATTERN, DEFAULT_ZONE, SKU_PATTERN, ProductOut
from sincro.catalog.service import LocationDirectory, Place
from sincro.console.export import csv_response, parse_form
from sincro.console.formatting import decimal
from sincro.console.routes import (
    ConsoleUserDep,
    Pager,
    app_state,
    not_found,
    render,
    session_user,
)
from sincro.errors import NotFound
from sincro.feed.endpoints import event_stream
from sincro.feed.runtime import event_hub
from sincro.inventory import availability, service as inventory
from sincro.inventory.availability import SkuSnapshot
from sincro.inventory.runtime import availability_cache
from sincro.inventory.service import LocationStockRow
from sincro.text_pt import fold

router = APIRouter(prefix="/console", include_in_schema=False)
T = TypeVar("T")

SEARCH_PAGE_SIZE = 20
ALL_LOCATIONS_PAGE_SIZE = 25
LOCATIONS_PAGE_SIZE = 50
LOCATION_STOCK_PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000  # a location holds at most the catalog (1,000 SKUs in the demo)
NEAR_LIMIT = 30
DEFAULT_RADIUS_KM = 25.0
MAX_RADIUS_KM = 3000.0
LOW_STOCK_MAX = 5
KM_PER_DEGREE = 111.32
KIND_LABELS = {"store": "Loja", "dc": "CD"}
LEVEL_LABELS = {"none": "sem estoque", "low": "baixo", "ok": "ok"}
SKU_RE = re.compile(SKU_PATTERN)
CODE_RE = re.compile(CODE_PATTERN)

# Brazil's bounding box with a small margin: west, east, south, north (degrees).
MAP_BOUNDS = (-74.5, -32.0, -34.2, 5.8)
MAP_WIDTH = 560.0
MAP_GRID_STEP = 10
# A coarse outline of Brazil (lon, lat), only to give the scatter a familiar backdrop.
# fmt: off
BRAZIL_OUTLINE = (
    (-51.6, 4.4), (-50.4, 2.0), (-50.0, 0.2), (-48.4, -0.9), (-47.0, -0.7), (-44.6, -2.3),
    (-41.8, -2.9), (-38.5, -3.7), (-37.2, -4.8), (-35.3, -5.2), (-34.8, -7.1), (-35.0, -8.6),
    (-35.8, -9.8), (-37.1, -11.1), (-38.5, -13.0), (-39.0, -15.0), (-39.2, -17.8),
    (-40.3, -20.3), (-41.0, -22.0), (-42.0, -22.9), (-43.2, -23.0), (-44.7, -23.4),
    (-46.3, -24.0), (-47.9, -25.0), (-48.5, -26.2), (-48.7, -28.3), (-49.8, -29.4),
    (-50.9, -31.0), (-52.1, -32.2), (-53.4, -33.7), (-53.6, -32.5), (-55.6, -30.9),
    (-57.6, -30.2), (-56.0, -28.1), (-53.8, -27.1), (-54.6, -25.6), (-54.3, -24.0),
    (-55.6, -22.6), (-57.9, -22.1), (-57.7, -19.0), (-58.2, -17.5), (-60.2, -16.3),
    (-60.3, -15.1), (-61.5, -13.5), (-63.1, -12.6), (-65.3, -10.9), (-65.4, -9.7),
    (-67.0, -10.3), (-68.6, -11.0), (-70.5, -11.0), (-72.4, -10.0), (-73.2, -9.4),
    (-74.0, -7.4), (-72.9, -5.1), (-70.0, -4.3), (-69.4, -1.0), (-69.9, 1.1), (-67.3, 2.0),
    (-66.8, 1.2), (-64.0, 1.9), (-64.0, 2.5), (-63.4, 2.2), (-62.0, 4.1), (-60.1, 5.2),
    (-59.7, 4.1), (-59.6, 1.8), (-58.0, 1.5), (-56.0, 2.0), (-54.6, 2.3), (-52.5, 2.4),
)
# fmt: on


# --- view models ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class City:
    """The active locations of one city, centred on their mean position."""

    key: str
    name: str
    state: str
    latitude: float
    longitude: float
    locations: int

    @property
    def label(self) -> str:
        return f"{self.name} – {self.state}"


@dataclass(frozen=True, slots=True)
class Origin:
    label: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class MapDot:
    x: float
    y: float
    level: str
    code: str
    name: str
    city: str
    state: str
    available: int
    is_dc: bool


@dataclass(frozen=True, slots=True)
class MapFocus:
    x: float
    y: float
    rx: float
    ry: float
    label: str


@dataclass(frozen=True, slots=True)
class MapGridLine:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    label_x: float
    label_y: float


@dataclass(frozen=True, slots=True)
class MapView:
    width: float
    height: float
    outline: str
    dots: list[MapDot]
    grid: list[MapGridLine]
    focus: MapFocus | None


# --- small pure helpers ----------------------------------------------------------------------


def parse_number(text: str) -> float | None:
    """A finite number typed the Brazilian way (``-23,55``) or the dotted way."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def stock_level(available: int) -> str:
    """``none``, ``low`` or ``ok``: how a location is colored on the map."""
    if available <= 0:
        return "none"
    return "low" if available <= LOW_STOCK_MAX else "ok"


def cities_of(places: Iterable[Place]) -> list[City]:
    """The distinct cities of the active locations, by name."""
    groups: dict[tuple[str, str], list[Place]] = {}
    for place in places:
        if place.active:
            groups.setdefault((place.state, place.city), []).append(place)
    cities = [
        City(
            f"{state}|{name}",
            name,
            state,
            sum(p.latitude for p in members) / len(members),
            sum(p.longitude for p in members) / len(members),
            len(members),
        )
        for (state, name), members in groups.items()
    ]
    return sorted(cities, key=lambda c: (fold(c.name), c.state))


def parse_origin(
    cities: dict[str, City], city: str, lat: str, lon: str
) -> tuple[Origin | None, list[str]]:
    """The point to search around: a city of the list, or free latitude and longitude."""
    if city:
        found = cities.get(city)
        if found is None:
            return None, ["Cidade não encontrada. Escolha uma cidade da lista."]
        return Origin(found.label, found.latitude, found.longitude), []
    if not lat.strip() and not lon.strip():
        return None, []
    latitude, longitude = parse_number(lat), parse_number(lon)
    errors = []
    if latitude is None or not -90 <= latitude <= 90:
        errors.append("Latitude inválida: informe um número entre -90 e 90 (ex.: -23,55).")
    if longitude is None or not -180 <= longitude <= 180:
        errors.append("Longitude inválida: informe um número entre -180 e 180 (ex.: -46,63).")
    if errors or latitude is None or longitude is None:
        return None, errors
    return Origin(f"{decimal(latitude, 4)}, {decimal(longitude, 4)}", latitude, longitude), []


def parse_radius(text: str) -> tuple[float, list[str]]:
    if not text.strip():
        return DEFAULT_RADIUS_KM, []
    value = parse_number(text)
    if value is None or not 0 < value <= MAX_RADIUS_KM:
        return DEFAULT_RADIUS_KM, ["Raio inválido: informe um número maior que 0 e até 3.000 km."]
    return value, []


def project(latitude: float, longitude: float) -> tuple[float, float]:
    """Equirectangular projection of a point onto the map (clamped to Brazil's box)."""
    west, east, south, north = MAP_BOUNDS
    scale = MAP_WIDTH / (east - west)
    lon = min(max(longitude, west), east)
    lat = min(max(latitude, south), north)
    return round((lon - west) * scale, 1), round((north - lat) * scale, 1)


def map_grid() -> list[MapGridLine]:
    west, east, south, north = MAP_BOUNDS
    width, height = project(south, east)
    lines = []
    for lon in range(-70, int(east) + 1, MAP_GRID_STEP):
        x, _ = project(north, lon)
        lines.append(MapGridLine(x, 0, x, height, f"{-lon}°O", x + 3, height - 4))
    for lat in range(0, int(south) - 1, -MAP_GRID_STEP):
        _, y = project(lat, west)
        label = "Equador" if lat == 0 else f"{-lat}°S"
        lines.append(MapGridLine(0, y, width, y, label, 4, y - 3))
    return lines


def build_map(snap: SkuSnapshot, origin: Origin | None, radius_km: float) -> MapView:
    """Every active location as a dot colored by its availability of this SKU."""
    dots = []
    for place in snap.directory.places:
        if not place.active:
            continue
        available = snap.available[place.position]
        x, y = project(place.latitude, place.longitude)
        dots.append(
            MapDot(
                x,
                y,
                stock_level(available),
                place.code,
                place.name,
                place.city,
                place.state,
                available,
                place.kind == "dc",
            )
        )
    order = {"none": 0, "low": 1, "ok": 2}
    dots.sort(key=lambda d: order[d.level])  # stocked dots drawn last, on top
    width, height = project(MAP_BOUNDS[2], MAP_BOUNDS[1])
    return MapView(width, height, outline(), dots, map_grid(), _focus(origin, radius_km))


def outline() -> str:
    """SVG ``points`` of Brazil's coarse outline."""
    return " ".join("{},{}".format(*project(lat, lon)) for lon, lat in BRAZIL_OUTLINE)


def _focus(origin: Origin | None, radius_km: float) -> MapFocus | None:
    if origin is None:
        return None
    west, east, _, _ = MAP_BOUNDS
    scale = MAP_WIDTH / (east - west)
    x, y = project(origin.latitude, origin.longitude)
    ry = radius_km / KM_PER_DEGREE * scale
    rx = ry / max(0.05, math.cos(math.radians(origin.latitude)))
    return MapFocus(x, y, round(rx, 1), round(ry, 1), origin.label)


def valid_filter(value: str, pattern: re.Pattern[str]) -> bool:
    return not value or pattern.fullmatch(value) is not None


def fetch_page(
    pager: Pager, fetch: Callable[[int, int], tuple[Sequence[T], int]]
) -> tuple[Sequence[T], Pager]:
    """``fetch(offset, limit)`` one page of rows and the total; past the end, the last page."""
    rows, total = fetch(pager.offset, pager.per_page)
    if not rows and total and pager.page > 1:
        pager = pager.with_total(total)
        rows, total = fetch(pager.offset, pager.per_page)
    return rows, Pager(pager.page, pager.per_page, total)


# --- SKUs ----------------------------------------------------------------------------------


@router.get("/skus", name="console_skus")
def skus_page(request: Request, _user: ConsoleUserDep, q: str = "", page: str = "") -> Response:
    """Search products by name, SKU or EAN; each result shows its online availability."""
    state = app_state(request)
    query = q.strip()[:100]
    with state.db.read() as session:

        def fetch(offset: int, limit: int) -> tuple[list[ProductOut], int]:
            return catalog.list_products(
                session, q=query or None, category=None, offset=offset, limit=limit
            )

        products, pager = fetch_page(Pager.parse(page, SEARCH_PAGE_SIZE), fetch)
    summaries = {p.sku: availability_cache(state).get(p.sku).summary() for p in products}
    context = {"q": query, "products": products, "summaries": summaries, "pager": pager}
    return render(request, "inventory/skus.html", context, section="skus")


@router.get("/skus/{sku:path}", name="console_sku")
def sku_page(
    request: Request,
    sku: str,
    _user: ConsoleUserDep,
    city: str = "",
    lat: str = "",
    lon: str = "",
    radius: str = "",
    page: str = "",
    in_stock: str = "",
) -> Response:
    """One SKU: online summary, the locations with stock nearest to a city or point, a map of
    every active location colored by availability, and a paginated table of all locations."""
    state = app_state(request)
    try:
        snap = availability_cache(state).get(sku)
    except NotFound:
        return not_found(request, "SKU não encontrado", f"Não existe produto com o SKU “{sku}”.")
    with state.db.read() as session:
        try:
            product: ProductOut | None = catalog.get_product(session, sku)
        except NotFound:  # deleted since the snapshot was loaded
            product = None
    cities = cities_of(snap.directory.places)
    origin, errors = parse_origin({c.key: c for c in cities}, city, lat, lon)
    radius_km, radius_errors = parse_radius(radius)
    errors += radius_errors
    near = None
    if origin is not None:
        near = availability.near(snap, origin.latitude, origin.longitude, radius_km, NEAR_LIMIT)
    only_stocked = in_stock == "1"
    pager, listing = _all_locations(snap, page, only_stocked)
    context = {
        "product": product,
        "summary": snap.summary(),
        "cities": cities,
        "form": {"city": city, "lat": lat, "lon": lon, "radius": radius or "25"},
        "origin": origin,
        "radius_km": radius_km,
        "errors": errors,
        "near": near,
        "near_limit": NEAR_LIMIT,
        "map": build_map(snap, origin, radius_km),
        "level_labels": LEVEL_LABELS,
        "low_stock_max": LOW_STOCK_MAX,
        "kind_labels": KIND_LABELS,
        "listing": listing,
        "pager": pager,
        "in_stock": only_stocked,
        "by_uf": available_by_uf(snap),
    }
    status = 422 if errors else 200
    return render(request, "inventory/sku.html", context, status_code=status, section="skus")


def available_by_uf(snap: SkuSnapshot) -> dict[str, object]:
    """Chart data: units available per UF over the active locations."""
    totals: dict[str, int] = {}
    for place in snap.directory.places:
        if place.active:
            totals[place.state] = totals.get(place.state, 0) + snap.available[place.position]
    states = sorted(totals)
    return {
        "type": "bar",
        "labels": states,
        "series": [{"label": "Disponível", "data": [totals[uf] for uf in states]}],
    }


def _all_locations(
    snap: SkuSnapshot, page: str, in_stock: bool
) -> tuple[Pager, list[dict[str, object]]]:
    """One page of every active location's row ("Todas as lojas"), the last when past it."""
    pager = Pager.parse(page, ALL_LOCATIONS_PAGE_SIZE)
    listing = availability.all_locations(snap, pager.offset, pager.per_page, in_stock)
    pager = pager.with_total(listing["total"])
    if pager.offset != listing["offset"]:
        listing = availability.all_locations(snap, pager.offset, pager.per_page, in_stock)
    by_code = snap.directory.by_code
    rows = [
        {**row, "time_zone": by_code[row["location"]].time_zone} for row in listing["locations"]
    ]
    return pager, rows


# --- locations -----------------------------------------------------------------------------


def _directory(request: Request) -> LocationDirectory:
    with app_state(request).db.read() as session:
        return catalog.directory(session)


@router.get("/locations", name="console_locations")
def locations_page(
    request: Request, _user: ConsoleUserDep, uf: str = "", kind: str = "", page: str = ""
) -> Response:
    """Every store and distribution center, filtered by UF and kind, paginated."""
    states = sorted({p.state for p in _directory(request).places})
    uf = uf.strip().upper()
    errors = []
    if uf and uf not in states:
        errors.append(f"UF “{uf}” não tem lojas nem CDs cadastrados.")
    if kind and kind not in KIND_LABELS:
        errors.append("Tipo inválido: escolha Loja ou CD.")
        kind = ""
    with app_state(request).db.read() as session:

        def fetch(offset: int, limit: int) -> tuple[list[Place], int]:
            return catalog.place_page(
                session, kind=kind or None, state=uf or None, offset=offset, limit=limit
            )

        locations, pager = fetch_page(Pager.parse(page, LOCATIONS_PAGE_SIZE), fetch)
    context = {
        "locations": locations,
        "pager": pager,
        "states": states,
        "uf": uf,
        "kind": kind,
        "kind_labels": KIND_LABELS,
        "errors": errors,
    }
    return render(request, "inventory/locations.html", context, section="locations")


@router.get("/locations/{code}", name="console_location")
def location_page(request: Request, code: str, _user: ConsoleUserDep, page: str = "") -> Response:
    """One location: its data, flags, and the SKUs it has on hand (paginated)."""
    with app_state(request).db.read() as session:
        location = catalog.places_by_code(session, [code]).get(code)
        if location is None:
            return not_found(
                request, "Local não encontrado", f"Não existe loja nem CD com o código “{code}”."
            )
        location_id = location.id

        def fetch(offset: int, limit: int) -> tuple[list[LocationStockRow], int]:
            return inventory.stock_at_location(session, location_id, offset=offset, limit=limit)

        rows, pager = fetch_page(Pager.parse(page, LOCATION_STOCK_PAGE_SIZE), fetch)
    context = {"location": location, "rows": rows, "pager": pager, "kind_labels": KIND_LABELS}
    return render(request, "inventory/location.html", context, section="locations")


@router.get("/locations/{code}/stock.csv", name="console_location_stock_csv")
def location_stock_csv(
    request: Request, code: str, _user: ConsoleUserDep, formato: str = ""
) -> Response:
    """Every SKU on hand at one location as a CSV download (pt-BR Excel, or ``formato=dados``)."""
    with app_state(request).db.read() as session:
        found = catalog.places_by_code(session, [code]).get(code)
        if found is None:
            return not_found(
                request, "Local não encontrado", f"Não existe loja nem CD com o código “{code}”."
            )
        rows, _total = inventory.stock_at_location(
            session, found.id, offset=0, limit=EXPORT_MAX_ROWS
        )
    header = ("sku", "produto", "disponivel", "em_maos", "reservado", "versao", "atualizado_em")
    lines = (
        (r.sku, r.name, r.available, r.on_hand, r.reserved, r.version, r.updated_at) for r in rows
    )
    zone = ZoneInfo(found.time_zone)
    return csv_response(f"estoque-{found.code}", header, lines, parse_form(formato), zone)


# --- live feed -----------------------------------------------------------------------------


@router.get("/feed", name="console_feed")
def feed_page(
    request: Request, _user: ConsoleUserDep, sku: str = "", location: str = ""
) -> Response:
    """Live availability changes, optionally for one SKU and/or one location."""
    sku, location = sku.strip(), location.strip()
    errors = []
    if not valid_filter(sku, SKU_RE):
        errors.append("SKU inválido.")
    if not valid_filter(location, CODE_RE):
        errors.append("Código de local inválido.")
    zones = {p.code: p.time_zone for p in _directory(request).places if p.time_zone != DEFAULT_ZONE}
    context = {"sku": sku, "location": location, "errors": errors, "zones": zones}
    return render(request, "inventory/feed.html", context, section="feed")


@router.get("/feed/stream", name="console_feed_stream")
async def feed_stream(
    request: Request,
    sku: str = "",
    location: str = "",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """The change feed as Server-Sent Events for the signed-in console user (401 otherwise).

    A new connection starts from the hub's position at request time (the backlog read closes
    any gap before the subscription); a reconnecting browser resumes from ``Last-Event-ID``."""
    if await run_in_threadpool(session_user, request) is None:
        return PlainTextResponse("Entre no console para acompanhar o feed.", status_code=401)
    if not valid_filter(sku, SKU_RE) or not valid_filter(location, CODE_RE):
        return PlainTextResponse("Filtro de SKU ou local inválido.", status_code=400)
    state = app_state(request)
    resume = event_hub(state).position
    if last_event_id and last_event_id.strip().isdigit():
        resume = int(last_event_id)
    stream = event_stream(
        request, event_hub(state), state.db, sku or None, location or None, resume
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
