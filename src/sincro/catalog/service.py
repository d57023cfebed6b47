"""Rules for locations and products, and the in-process directory of locations.

The directory (about 1,800 rows) is what every availability read and allocation needs: it is
cached per process and reloaded when it is older than a few seconds or misses a code.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sincro.catalog import repository
from sincro.catalog.models import Location, Product
from sincro.catalog.schemas import LocationIn, ProductIn
from sincro.catalog.search import index_products
from sincro.errors import NotFound

DIRECTORY_TTL_SECONDS = 10.0
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    position: int
    code: str
    kind: str
    name: str
    city: str
    state: str
    latitude: float
    longitude: float
    ships_online: bool
    pickup_enabled: bool
    active: bool


class LocationDirectory:
    def __init__(self, locations: Sequence[Location]) -> None:
        self.places = [
            Place(
                loc.id,
                i,
                loc.code,
                loc.kind,
                loc.name,
                loc.city,
                loc.state,
                loc.latitude,
                loc.longitude,
                loc.ships_online,
                loc.pickup_enabled,
                loc.active,
            )
            for i, loc in enumerate(locations)
        ]
        self.by_id = {p.id: p for p in self.places}
        self.by_code = {p.code: p for p in self.places}
        self.online = [p for p in self.places if p.ships_online and p.active]
        self.fingerprint = hashlib.sha256(repr(self.places).encode()).hexdigest()[:16]
        self.loaded_at = time.monotonic()


_directories: dict[str, LocationDirectory] = {}  # per database URL
_directory_lock = threading.Lock()


_engine_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database_key(session: Session) -> str:
    """The database URL of the session's engine (rendering a URL costs ~8 µs; asked per row)."""
    engine = session.get_bind().engine
    key = _engine_keys.get(engine)
    if key is None:
        key = _engine_keys[engine] = str(engine.url)
    return key


def directory(
    session: Session, *, need_code: str | None = None, need_id: int | None = None
) -> LocationDirectory:
    """The cached location directory, reloaded when stale or missing a code or id."""
    key = _database_key(session)
    current = _directories.get(key)
    stale = current is None or time.monotonic() - current.loaded_at > DIRECTORY_TTL_SECONDS
    missing = current is not None and (
        (need_code is not None and need_code not in current.by_code)
        or (need_id is not None and need_id not in current.by_id)
    )
    if stale or missing:
        with _directory_lock:
            fresh = LocationDirectory(repository.all_locations(session))
            if current is not None and fresh.fingerprint == current.fingerprint:
                current.loaded_at = fresh.loaded_at  # unchanged: keep positions stable
            else:
                current = _directories[key] = fresh
    assert current is not None
    return current


def location_code(session: Session, location_id: int) -> str:
    """The code of a location, reloading the directory if the id is new to this process."""
    return directory(session, need_id=location_id).by_id[location_id].code


def cached_directory(database_url: str) -> LocationDirectory | None:
    """The directory if this process has a fresh one for that database (no database access)."""
    current = _directories.get(database_url)
    if current is None or time.monotonic() - current.loaded_at > DIRECTORY_TTL_SECONDS:
        return None
    return current


def forget_directory() -> None:
    _directories.clear()


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def get_location(session: Session, code: str) -> Location:
    location = repository.locations_by_code(session, [code]).get(code)
    if location is None:
        raise NotFound(f"unknown location {code!r}", field="location")
    return location


def get_product(session: Session, sku: str) -> Product:
    product = repository.products_by_sku(session, [sku]).get(sku)
    if product is None:
        raise NotFound(f"unknown SKU {sku!r}", field="sku")
    return product


def upsert_location(session: Session, data: LocationIn) -> tuple[Location, bool]:
    location = repository.locations_by_code(session, [data.code]).get(data.code)
    created = location is None
    if location is None:
        location = Location(code=data.code)
        session.add(location)
    for field, value in data.model_dump(exclude={"code"}).items():
        setattr(location, field, value.value if hasattr(value, "value") else value)
    session.flush()
    forget_directory()
    return location, created


def upsert_product(session: Session, data: ProductIn) -> tuple[Product, bool]:
    return upsert_products(session, [data])[0]


def upsert_products(session: Session, items: Sequence[ProductIn]) -> list[tuple[Product, bool]]:
    """Create or update products by SKU (one read, one flush, one index pass for the lot);
    (product, created) per item, in order."""
    found = repository.products_by_sku(session, [d.sku for d in items])
    out = []
    for data in items:
        product = found.get(data.sku)
        created = product is None
        if product is None:
            product = found[data.sku] = Product(sku=data.sku)
            session.add(product)
        for field, value in data.model_dump(exclude={"sku"}).items():
            setattr(product, field, value)
        out.append((product, created))
    session.flush()
    index_products(session, [product.id for product, _ in out])
    return out
