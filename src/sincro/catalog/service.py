"""Rules for locations and products: the one door other domains use to the catalog.

Other domains never import the catalog's repository or models; every location and product
question goes through the functions here. Locations are answered from an in-process directory
(about 1,800 rows, what every availability read and allocation needs), cached per database and
reloaded when it is older than a few seconds or misses a location that exists (the hot paths
keep answering from it a little longer while one background thread reloads it). Product
identities (id and SKU never change once a product exists; products are never deleted) are
remembered per process once the transaction that read them commits, so turning SKUs into ids
and back costs a query only the first time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field as dataclass_field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sincro.catalog import repository
from sincro.catalog.models import Location, Product
from sincro.catalog.offers import (
    CHANNEL_LABELS as CHANNEL_LABELS,
    PLAN_KIND_LABELS as PLAN_KIND_LABELS,
    apply_list_prices as apply_list_prices,
    current_prices as current_prices,
    delete_price as delete_price,
    delete_promotion as delete_promotion,
    get_plan as get_plan,
    get_promotion as get_promotion,
    list_plans as list_plans,
    list_prices as list_prices,
    list_promotions as list_promotions,
    promotion_days as promotion_days,
    upsert_plan as upsert_plan,
    upsert_plans as upsert_plans,
    upsert_price as upsert_price,
    upsert_prices as upsert_prices,
    upsert_promotion as upsert_promotion,
)
from sincro.catalog.recent import RECENT
from sincro.catalog.schemas import (
    DIRECTORY_CODES_MAX,
    PRODUCT_OPTIONAL_ATTRIBUTES,
    DirectoryChanged,
    DirectoryKind,
    LocationIn,
    LocationOut,
    PlanOut,
    ProductIn,
    ProductOut,
    PromotionOut,
)
from sincro.catalog.search import index_products
from sincro.db import on_commit, reader_for
from sincro.errors import NotFound
from sincro.events import publish, register_topic

DIRECTORY_CHANGED = "directory.changed"
register_topic(DIRECTORY_CHANGED, DirectoryChanged)

DIRECTORY_TTL_SECONDS = 10.0
# past its TTL, a directory still answers the hot paths (known_ids, cached_directory) this
# much longer while one background thread reloads it; past that, they answer None again
DIRECTORY_GRACE_SECONDS = DIRECTORY_TTL_SECONDS
PRODUCT_IDS_LIMIT = 1_000_000  # remembered SKU <-> id pairs per database before starting over
EARTH_RADIUS_KM = 6371.0088
log = logging.getLogger("sincro.catalog.directory")


@dataclass(frozen=True, slots=True)
class Place:
    """A location as the directory holds it: its row and its position in the directory.

    The fields after ``position`` are :class:`~sincro.catalog.schemas.LocationIn`'s, in its
    order (a test keeps them equal), plus ``updated_at``."""

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
    time_zone: str
    updated_at: dt.datetime = dataclass_field(compare=False, repr=False)


PLACE_FIELDS = (*LocationIn.model_fields, "updated_at")


class LocationDirectory:
    """Every location by id and code, and those that ship online (an immutable snapshot).

    Made from :func:`repository.all_locations`'s rows, ``(id, *PLACE_FIELDS)``.
    ``fingerprint`` (:func:`fingerprint_of`) changes when any field but ``updated_at`` does."""

    def __init__(self, rows: Sequence[tuple[Any, ...]], fingerprint: str) -> None:
        self.places = [Place(row[0], i, *row[1:]) for i, row in enumerate(rows)]
        self.by_id = {p.id: p for p in self.places}
        self.by_code = {p.code: p for p in self.places}
        self.online = [p for p in self.places if p.ships_online and p.active]
        self.fingerprint = fingerprint  # fingerprint_of(rows), made by the caller first
        self.loaded_at = time.monotonic()


def fingerprint_of(rows: Sequence[tuple[Any, ...]]) -> str:
    """What every location is, but ``updated_at`` (the rows' last field), as 16 hex digits,
    the same in every process (shared snapshots carry it)."""
    return hashlib.sha256(repr([row[:-1] for row in rows]).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ProductRef:
    """What other domains need of a product to name it: id, SKU and name."""

    id: int
    sku: str
    name: str


@dataclass(slots=True)
class ProductIds:
    """SKU <-> id pairs this process has seen for one database (they never change)."""

    by_sku: dict[str, int] = dataclass_field(default_factory=dict)
    by_id: dict[int, str] = dataclass_field(default_factory=dict)

    def remember(self, pairs: Iterable[tuple[int, str]]) -> None:
        if len(self.by_id) > PRODUCT_IDS_LIMIT:
            self.by_sku.clear()
            self.by_id.clear()
        for product_id, sku in pairs:
            self.by_sku[sku] = product_id
            self.by_id[product_id] = sku


_directories: dict[str, LocationDirectory] = {}  # per database URL
_product_ids: dict[str, ProductIds] = {}  # per database URL
_directory_lock = threading.Lock()
_forgotten = [0]  # bumped by forget_locations: a directory read before that is not kept
# the engine that last loaded each database's directory, its read engine on SQLite
# (background reloads use it), and the background reload thread of each (one at a time)
_loaders: weakref.WeakValueDictionary[str, Engine] = weakref.WeakValueDictionary()
_reloads: dict[str, threading.Thread] = {}
_reloads_lock = threading.Lock()


_engine_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database_key(session: Session) -> str:
    """The database URL of the session's engine (rendering a URL costs ~8 µs; asked per row)."""
    return _engine_key(session.get_bind().engine)


def _engine_key(engine: Engine) -> str:
    key = _engine_keys.get(engine)
    if key is None:
        key = _engine_keys[engine] = str(engine.url)
    return key


def known_ids(engine: Engine, sku: str, code: str) -> tuple[int, int] | None:
    """(product id, location id) of ``sku`` at ``code`` when this process already knows both
    (a usable directory, see :func:`_usable`, and a remembered SKU), without asking the
    database; None otherwise. For hot paths that fall back to :func:`product_ids` and
    :func:`places_by_code`."""
    key = _engine_key(engine)
    products = _product_ids.get(key)
    product_id = products.by_sku.get(sku) if products is not None else None
    if product_id is None:
        return None
    current = _usable(key)
    if current is None:
        return None
    place = current.by_code.get(code)
    return (product_id, place.id) if place is not None else None


def _usable(key: str) -> LocationDirectory | None:
    """The directory the hot paths may answer from, without waiting on the database: a fresh
    one, or one past its TTL by at most ``DIRECTORY_GRACE_SECONDS`` (stale-while-revalidate:
    one background thread reloads it meanwhile); None when there is none or it is older.

    Staleness only bounds how late a change made without an event is seen: a location change
    is announced (``directory.changed``) and :func:`forget_locations` drops the directory at
    once, so the hot paths answer None until it is reloaded, as without the grace."""
    current = _directories.get(key)
    if current is None:
        return None
    age = time.monotonic() - current.loaded_at
    if age <= DIRECTORY_TTL_SECONDS:
        return current
    if age > DIRECTORY_TTL_SECONDS + DIRECTORY_GRACE_SECONDS:
        return None
    _reload_in_background(key, current)
    return current


def _reload_in_background(key: str, stale: LocationDirectory) -> None:
    """Start one thread reloading ``key``'s directory through :func:`directory` (its lock,
    fingerprint and forget guard), unless one is running or ``stale`` was replaced already."""
    engine = _loaders.get(key)
    if engine is None:
        return
    running = _reloads.get(key)
    if running is not None and running.is_alive():
        return  # the common case while it reloads: no lock taken
    with _reloads_lock:
        running = _reloads.get(key)
        if (running is not None and running.is_alive()) or _directories.get(key) is not stale:
            return
        if time.monotonic() - stale.loaded_at <= DIRECTORY_TTL_SECONDS:
            return  # reloaded (same fingerprint) since the caller looked
        thread = _reloads[key] = threading.Thread(
            target=_reload, args=(engine,), name="directory-reload", daemon=True
        )
        thread.start()


def _reload(engine: Engine) -> None:
    try:
        with Session(engine) as session:
            directory(session)
    except Exception:  # the hot paths fall back to the slow path once the grace runs out
        log.warning("background reload of the location directory failed", exc_info=True)


def directory(
    session: Session, *, need_code: str | None = None, need_id: int | None = None
) -> LocationDirectory:
    """The cached location directory, reloaded when stale or missing a code or id.

    One thread reloads; the others that found it stale meanwhile wait for that reload and
    use it (a hot path used to see every waiting thread reload in turn: 1,800 locations read
    through the ORM by each of 40 threads, every TTL)."""
    key = _database_key(session)
    current = _directories.get(key)
    if _needs_load(current, need_code, need_id):
        with _directory_lock:
            current = _directories.get(key)
            if not _needs_load(current, need_code, need_id):
                assert current is not None
                return current
            generation = _forgotten[0]
            rows = repository.all_locations(session, PLACE_FIELDS)
            fingerprint = fingerprint_of(rows)
            if current is not None and fingerprint == current.fingerprint:
                current.loaded_at = time.monotonic()  # unchanged: keep positions stable
            else:
                current = LocationDirectory(rows, fingerprint)
            if generation == _forgotten[0]:  # not forgotten while reading: keep it
                _directories[key] = current
                # a reload must not take SQLite's write lock (a write session's BEGIN
                # IMMEDIATE) and stall every writer for as long as it reads
                _loaders[key] = reader_for(session.get_bind().engine)
    assert current is not None
    return current


def _needs_load(
    current: LocationDirectory | None, need_code: str | None, need_id: int | None
) -> bool:
    """True when ``current`` is missing, stale, or lacks the code or id asked for."""
    if current is None or time.monotonic() - current.loaded_at > DIRECTORY_TTL_SECONDS:
        return True
    return (need_code is not None and need_code not in current.by_code) or (
        need_id is not None and need_id not in current.by_id
    )


def location_code(session: Session, location_id: int) -> str:
    """The code of a location, reloading the directory if the id is new to this process."""
    return directory(session, need_id=location_id).by_id[location_id].code


def location_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The codes of the locations with these ids: from the directory while it is fresh and
    knows them all, else one indexed query for just these (a bulk writer's page of ledger
    rows and events, every few seconds for minutes, would otherwise reload the whole
    directory, 1,800 locations through the ORM, each time it went stale)."""
    wanted = set(ids)
    current = _directories.get(_database_key(session))
    if current is not None and not _needs_load(current, None, None):
        by_id = current.by_id
        if wanted.issubset(by_id.keys()):
            return {location_id: by_id[location_id].code for location_id in wanted}
    return repository.location_codes(session, wanted)


def places_by_code(session: Session, codes: Iterable[str]) -> dict[str, Place]:
    """The known locations among ``codes``. A code the directory lacks costs one indexed query,
    and a reload only when the location exists (unknown codes never reload the directory)."""
    codes = set(codes)
    found = directory(session).by_code
    missing = [code for code in codes if code not in found]
    existing = repository.locations_by_code(session, missing) if missing else {}
    if existing:
        found = directory(session, need_code=next(iter(existing))).by_code
    return {code: found[code] for code in codes if code in found}


def place_page(
    session: Session, *, kind: str | None, state: str | None, offset: int, limit: int
) -> tuple[list[Place], int]:
    """One page of the directory's locations of a kind and/or UF, by code, and how many there
    are (as fresh as the directory; :func:`list_locations` reads the table)."""
    places = sorted(
        (
            p
            for p in directory(session).places
            if (not kind or p.kind == kind) and (not state or p.state == state)
        ),
        key=lambda p: p.code,
    )
    return places[offset : offset + limit], len(places)


def _product_ids_of(session: Session) -> ProductIds:
    key = _database_key(session)
    known = _product_ids.get(key)
    if known is None:
        known = _product_ids[key] = ProductIds()
    return known


def _remember(session: Session, pairs: list[tuple[int, str]]) -> None:
    """Remember (id, sku) pairs once the session's transaction commits: a product created in
    a transaction that rolls back must not be remembered (its id may never exist)."""
    if pairs:
        on_commit(session, lambda: _product_ids_of(session).remember(pairs))


def _read_pairs(
    session: Session, *, skus: Collection[str] = (), ids: Collection[int] = ()
) -> list[tuple[int, str]]:
    """(id, sku) of the products with those SKUs or ids, read now and remembered later."""
    if not skus and not ids:
        return []
    pairs = repository.id_sku_pairs(session, skus=skus or None, ids=ids or None)
    _remember(session, pairs)
    return pairs


def product_ids(session: Session, skus: Iterable[str]) -> dict[str, int]:
    """The ids of the known products among ``skus`` (a query for those new to the process)."""
    wanted, known = set(skus), _product_ids_of(session).by_sku
    found = {sku: known[sku] for sku in wanted if sku in known}
    pairs = _read_pairs(session, skus=wanted - found.keys())
    return found | {sku: product_id for product_id, sku in pairs}


def skus_by_id(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The SKUs of the known products among ``ids`` (a query for those new to the process)."""
    wanted, known = set(ids), _product_ids_of(session).by_id
    found = {product_id: known[product_id] for product_id in wanted if product_id in known}
    return found | dict(_read_pairs(session, ids=wanted - found.keys()))


def every_product_id(session: Session) -> dict[str, int]:
    """Every product's id by SKU (one query; for mapping whole ERP files)."""
    pairs = repository.id_sku_pairs(session)
    _remember(session, pairs)
    return {sku: product_id for product_id, sku in pairs}


def product_refs(session: Session, ids: Iterable[int]) -> dict[int, ProductRef]:
    """Id, SKU and current name of the products with those ids (one query)."""
    rows = repository.product_refs(session, set(ids))
    _remember(session, [(product_id, sku) for product_id, sku, _ in rows])
    return {product_id: ProductRef(product_id, sku, name) for product_id, sku, name in rows}


def find_product(session: Session, sku: str) -> ProductRef | None:
    """Id, SKU and current name of a product (one query), or None."""
    return find_products(session, [sku]).get(sku)


def find_products(session: Session, skus: Iterable[str]) -> dict[str, ProductRef]:
    """Id, SKU and current name of the known products among ``skus`` (one query)."""
    products = repository.products_by_sku(session, skus)
    _remember(session, [(p.id, p.sku) for p in products.values()])
    return {sku: ProductRef(p.id, p.sku, p.name) for sku, p in products.items()}


@dataclass(frozen=True, slots=True)
class ProductCard:
    """What is said about a product to a person: id, SKU, name and category."""

    id: int
    sku: str
    name: str
    category: str | None


def product_card(session: Session, sku: str) -> ProductCard | None:
    """A product's card, or None; remembered a few seconds per process (:mod:`.recent`)."""

    def load() -> ProductCard | None:
        product = repository.products_by_sku(session, [sku]).get(sku)
        if product is None:
            return None
        _remember(session, [(product.id, product.sku)])
        return ProductCard(product.id, product.sku, product.name, product.category)

    return RECENT.get(session, ("product", sku), load)


def plans_in_force(session: Session, *, kind: str | None, limit: int) -> tuple[PlanOut, ...]:
    """The first ``limit`` active plans (of ``kind``) by kind, monthly price and code, as
    :func:`list_plans` lists them; remembered a few seconds per process (:mod:`.recent`)."""
    return RECENT.get(
        session,
        ("plans", kind, limit),
        lambda: tuple(list_plans(session, kind=kind, active=True, limit=limit)[0]),
    )


def promotions_in_force(
    session: Session, *, day: dt.date, sku: str | None, limit: int
) -> tuple[PromotionOut, ...]:
    """The first ``limit`` promotions in force on ``day`` (of ``sku``'s product), newest start
    first, as :func:`list_promotions` lists them; remembered a few seconds per process."""
    return RECENT.get(
        session,
        ("promotions", day, sku, limit),
        lambda: tuple(list_promotions(session, active_on=day, sku=sku, limit=limit)[0]),
    )


def list_products(
    session: Session, *, q: str | None, category: str | None, offset: int, limit: int
) -> tuple[list[ProductOut], int]:
    """One page of products matching text (name, SKU, EAN) and/or a category, by SKU."""
    rows, total = repository.list_products(
        session, q=q, category=category, offset=offset, limit=limit
    )
    return [ProductOut.model_validate(row) for row in rows], total


def list_locations(
    session: Session, *, kind: str | None, state: str | None, offset: int, limit: int
) -> tuple[list[LocationOut], int]:
    """One page of the locations of a kind and/or UF, by code, and how many there are."""
    rows, total = repository.list_locations(
        session, kind=kind, state=state, offset=offset, limit=limit
    )
    return [LocationOut.model_validate(row) for row in rows], total


def cached_directory(database_url: str) -> LocationDirectory | None:
    """The directory if this process has a usable one for that database (fresh, or within
    its grace while reloaded in the background: :func:`_usable`); no database access."""
    return _usable(database_url)


def forget_directory() -> None:
    """Drop this process's locations, product ids and recent answers (after tables were
    emptied, in tests)."""
    forget_locations()
    _product_ids.clear()
    RECENT.forget()


def forget_locations() -> None:
    """Drop this process's location directories: the next question reloads them (on a
    ``directory.changed`` event, and after this process changed a location). Lock-free, so
    the event loop never waits on a reload; a reload in flight is then not kept."""
    _forgotten[0] += 1
    _directories.clear()


def announce_changes(session: Session, kind: DirectoryKind, codes: Collection[str]) -> None:
    """Publish ``directory.changed`` in the caller's transaction for created or changed
    locations or products, so every api process drops what it built on the old directory.
    More codes than one event carries are announced as "all of that kind" (no codes)."""
    if not codes:
        return
    listed = sorted(codes) if len(codes) <= DIRECTORY_CODES_MAX else []
    publish(session, DIRECTORY_CHANGED, DirectoryChanged(kind=kind, codes=listed))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def get_location(session: Session, code: str) -> LocationOut:
    """A location as stored now; :class:`NotFound` when there is none."""
    location = repository.locations_by_code(session, [code]).get(code)
    if location is None:
        raise NotFound(f"unknown location {code!r}", field="location")
    return LocationOut.model_validate(location)


def get_product(session: Session, sku: str) -> ProductOut:
    """A product as stored now; :class:`NotFound` when there is none."""
    product = repository.products_by_sku(session, [sku]).get(sku)
    if product is None:
        raise NotFound(f"unknown SKU {sku!r}", field="sku")
    return ProductOut.model_validate(product)


def upsert_location(session: Session, data: LocationIn) -> tuple[Location, bool]:
    location = repository.locations_by_code(session, [data.code]).get(data.code)
    created = location is None
    if location is None:
        location = Location(code=data.code)
        session.add(location)
    for field, value in data.model_dump(exclude={"code"}).items():
        setattr(location, field, value.value if hasattr(value, "value") else value)
    if created or session.is_modified(location):
        announce_changes(session, "location", [data.code])
        forget_locations()  # this transaction sees it now; others once it commits
        on_commit(session, forget_locations)
    session.flush()
    return location, created


def upsert_product(session: Session, data: ProductIn) -> tuple[Product, bool]:
    return upsert_products(session, [data])[0]


def upsert_products(session: Session, items: Sequence[ProductIn]) -> list[tuple[Product, bool]]:
    """Create or update products by SKU (one read, one flush, one index pass for the lot);
    (product, created) per item, in order. The replenishment attributes (lead time, pack
    size, supplier) change only when the input gives them (``PRODUCT_OPTIONAL_ATTRIBUTES``)."""
    found = repository.products_by_sku(session, [d.sku for d in items])
    out = []
    for data in items:
        product = found.get(data.sku)
        created = product is None
        if product is None:
            product = found[data.sku] = Product(sku=data.sku)
            session.add(product)
        kept = {a for a in PRODUCT_OPTIONAL_ATTRIBUTES if a not in data.model_fields_set}
        for field, value in data.model_dump(exclude={"sku", *kept}).items():
            setattr(product, field, value)
        out.append((product, created))
    changed = [p.sku for p, created in out if created or session.is_modified(p)]
    announce_changes(session, "product", changed)
    if changed:
        RECENT.forget_on_commit(session)  # names and categories
    session.flush()
    index_products(session, [product.id for product, _ in out])
    return out
