"""Availability reads, served from a per-process snapshot cache kept fresh by the change feed.

A :class:`SkuSnapshot` holds, for one SKU, compact arrays indexed by location position in the
:class:`~sincro.catalog.service.LocationDirectory` (about 45 KB per SKU at 1,810 locations). It
is loaded from the database on a miss, patched in place by every outbox event for that SKU
(events carry the level's new figures and version, so an older event never overwrites a newer
load), and dropped when a hold on that SKU reaches its expiry time, so an expired reservation
stops counting at the moment it expires, not when a sweeper runs.

The TTL (``SINCRO_AVAILABILITY_CACHE_TTL_SECONDS``) is a safety net against an event the feed
missed, not what keeps figures current. A snapshot is refreshed *in the background* from 75-100 %
of the TTL after its load (each snapshot draws its share, so a cache warmed in one burst is not
refreshed in one burst): the read that finds it due is served from it (it is patched by every
event, like any fresh one) and queues its reload on one refresher thread; only a snapshot that
reached the full TTL unrefreshed (nobody read it in between, or the refresher is behind) is
reloaded on the read's path, as a miss. So no figure is older than the TTL, and in a storm of
reads the reloads of a whole catalogue cost one thread's time in the background instead of a
read's latency each (a reload is thousands of level rows: milliseconds of CPU).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.catalog.service import LocationDirectory, Place
from sincro.db import Database, is_unavailable, utcnow
from sincro.errors import SHARED_STATE_ERRORS, DatabaseUnavailable
from sincro.inventory import repository as repo
from sincro.inventory.exceptions import UnknownLocation, UnknownSku
from sincro.inventory.metrics import MISSES, SHARED_ERRORS
from sincro.inventory.shared import SharedSnapshots

log = logging.getLogger("sincro.inventory.availability")


class SkuSnapshot:
    __slots__ = (
        "_summary",
        "_summary_dict",
        "_writes",
        "as_of",
        "available",
        "directory",
        "loaded_at",
        "name",
        "next_expiry",
        "on_hand",
        "product_id",
        "reserved",
        "sku",
        "ttl_share",
        "version",
        "watermark",
    )

    def __init__(self, sku: str, product_id: int, name: str, directory: LocationDirectory) -> None:
        size = len(directory.places)
        self.sku, self.product_id, self.name, self.directory = sku, product_id, name, directory
        self.available = array("i", bytes(4 * size))
        self.on_hand = array("i", bytes(4 * size))
        self.reserved = array("i", bytes(4 * size))
        self.version = array("i", bytes(4 * size))
        self.as_of = array("d", bytes(8 * size))
        self.next_expiry: float | None = None
        self.watermark = 0  # every outbox event up to this seq is reflected
        self.loaded_at = time.monotonic()
        # each snapshot is refreshed from 75-100 % of the TTL (see the module docstring), so a
        # cache warmed in one burst is not refreshed in one burst
        self.ttl_share = random.uniform(0.75, 1.0)
        self._summary: bytes | None = None
        self._summary_dict: dict[str, Any] | None = None
        self._writes = 0  # patches begun and ended: odd while one is under way

    def fresh(self, now: float, ttl: float) -> bool:
        """No hold on it has expired and it is younger than the TTL."""
        if self.next_expiry is not None and time.time() >= self.next_expiry:
            return False
        return now - self.loaded_at < ttl

    def due(self, now: float, ttl: float) -> bool:
        """Old enough to be refreshed in the background (its share of the TTL)."""
        return now - self.loaded_at >= ttl * self.ttl_share

    def patch(self, event: dict[str, Any]) -> bool:
        """Apply one outbox event; False when the snapshot cannot place it (drop it)."""
        place = self.directory.by_code.get(event["location"])
        if place is None:
            return False
        i = place.position
        if event["version"] > self.version[i]:
            self._writes += 1  # odd: a patch is under way (see summary)
            was, now = self.available[i], event["available"]
            self.available[i] = now
            self.on_hand[i] = event["on_hand"]
            self.reserved[i] = event["reserved"]
            self.version[i] = event["version"]
            self.as_of[i] = _epoch(event["at"])
            memo = self._summary_dict
            if memo is not None and was != now and place.active:
                # the totals move by this one location's change: no pass over all of them
                online = memo["online_available"] + (now - was if place.ships_online else 0)
                with_stock = memo["locations_with_stock"] + (now > 0) - (was > 0)
                memo = {**memo, "online_available": online, "locations_with_stock": with_stock}
            self._summary_dict, self._summary = memo, None
            self._writes += 1
        return True

    def summary(self) -> dict[str, Any]:
        """Online total and locations with stock (callers must not mutate it; they spread it
        into their own dicts). Computed once, then moved by each patch; a summary computed
        in a thread while a patch ran (the batch read) is returned but not kept."""
        memo = self._summary_dict
        if memo is None:
            before = self._writes
            online = sum(self.available[p.position] for p in self.directory.online)
            places = self.directory.places
            with_stock = sum(1 for p in places if p.active and self.available[p.position] > 0)
            memo = {
                "sku": self.sku,
                "name": self.name,
                "online_available": online,
                "locations_with_stock": with_stock,
            }
            self._keep("_summary_dict", memo, before)
        return memo

    def summary_json(self) -> bytes:
        """The summary's JSON, memoised until the next patch."""
        body = self._summary
        if body is None:
            before = self._writes
            body = orjson.dumps(self.summary())
            self._keep("_summary", body, before)
        return body

    def _keep(self, name: str, value: Any, before: int) -> None:
        """Memoise ``value``, computed from the arrays as they were at write count
        ``before``, unless a patch ran meanwhile (then the next caller computes again)."""
        if before % 2 == 0 and self._writes == before:
            setattr(self, name, value)
            if self._writes != before:  # a patch began between the check and the store
                setattr(self, name, None)

    def row(self, place: Place, distance_km: float | None = None) -> dict[str, Any]:
        i = place.position
        row: dict[str, Any] = {
            "location": place.code,
            "name": place.name,
            "kind": place.kind,
            "city": place.city,
            "state": place.state,
            "available": self.available[i],
            "on_hand": self.on_hand[i],
            "reserved": self.reserved[i],
            "version": self.version[i],
            "as_of": dt.datetime.fromtimestamp(self.as_of[i], dt.UTC).isoformat()
            if self.as_of[i]
            else None,
        }
        if distance_km is not None:
            row["distance_km"] = round(distance_km, 2)
        return row


def _epoch(value: str | dt.datetime) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.timestamp()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    patches: int = 0
    shared_hits: int = 0
    stale_served: int = 0
    refreshes: int = 0  # background reloads of snapshots past their share of the TTL
    shared_errors: int = 0  # shared-store calls that failed and were read from the database


RECENT_EVENTS = 50_000
LEVELS_PER_READ = 200_000  # level rows per statement of a multi-SKU load
OUTAGE_BACKOFF_SECONDS = 2.0
LOAD_LOCK_STRIPES = 64


class AvailabilityCache:
    """Snapshots per SKU, at most ``capacity`` of them (least recently used dropped first).

    A load and the feed can interleave: the cache remembers the feed position before each load
    and the most recent events, and replays onto the fresh snapshot every event after that
    position, so an event that arrives while its SKU is being loaded is never lost. With a
    ``shared`` store (Redis in production) a miss is served from the snapshot another replica
    stored, caught up from the outbox past that snapshot's watermark.

    While the database is unavailable, a snapshot past its TTL is served as it is (stale,
    see :meth:`stale`) and a miss raises :class:`DatabaseUnavailable`; after a failed load the
    cache does not try the database again for ``OUTAGE_BACKOFF_SECONDS``, so a silent
    database does not cost every read a connect timeout.
    """

    def __init__(
        self,
        db: Database,
        ttl_seconds: float = 300.0,
        capacity: int = 5000,
        shared: SharedSnapshots | None = None,
    ) -> None:
        self.db, self.ttl, self.capacity, self.shared = db, ttl_seconds, capacity, shared
        self._snapshots: OrderedDict[str, SkuSnapshot] = OrderedDict()
        self._locks = [threading.Lock() for _ in range(LOAD_LOCK_STRIPES)]
        self._patch_lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.position = 0
        self.generation = 0  # bumped when snapshots are dropped for a directory change
        self.stats = CacheStats()
        self._outage_until = 0.0
        self._shared_outage_until = 0.0
        self._refresh_lock = threading.Lock()
        self._due: dict[str, None] = {}  # SKUs queued for a background refresh, in order
        self._refresher: threading.Thread | None = None

    def peek(self, sku: str) -> SkuSnapshot | None:
        """The cached snapshot when fresh, without touching the database (event-loop safe);
        one past its share of the TTL is queued for a background refresh."""
        snap = self._snapshots.get(sku)
        if snap is None:
            return None
        now = time.monotonic()
        if snap.fresh(now, self.ttl):
            self.stats.hits += 1
            if snap.due(now, self.ttl) and sku not in self._due:
                self._refresh_later(sku)
            return snap
        return None

    def _refresh_later(self, sku: str) -> None:
        """Queue ``sku`` for the refresher thread (started when it is not running)."""
        with self._refresh_lock:
            if sku in self._due:
                return
            self._due[sku] = None
            if self._refresher is None:
                self._refresher = threading.Thread(
                    target=self._refresh_due, name="sincro-availability-refresh", daemon=True
                )
                self._refresher.start()

    def _refresh_due(self) -> None:
        """The refresher thread: reload the queued SKUs one at a time, then end."""
        while True:
            with self._refresh_lock:
                if not self._due:
                    self._refresher = None
                    return
                sku = next(iter(self._due))
            try:
                self._refresh(sku)
            except Exception:  # the read path reloads it at the full TTL if it must
                log.warning("background refresh of %r failed", sku, exc_info=True)
            finally:
                with self._refresh_lock:
                    self._due.pop(sku, None)

    def _refresh(self, sku: str) -> None:
        with self._locks[hash(sku) % LOAD_LOCK_STRIPES]:  # one load per SKU at a time
            snap = self._snapshots.get(sku)
            if snap is None or not snap.due(time.monotonic(), self.ttl):
                return  # dropped, or reloaded by a read meanwhile
            if time.monotonic() < self._outage_until:
                snap.ttl_share = 1.0  # not queued again: the full TTL's read path decides
                return
            self.stats.refreshes += 1
            try:
                self._reload(sku)
            except UnknownSku:
                self.forget([sku])  # the product is gone: reads answer 404 from now on
            except Exception as exc:
                snap.ttl_share = 1.0
                if is_unavailable(exc):
                    self._outage_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
                raise

    def get(self, sku: str) -> SkuSnapshot:
        """The snapshot for ``sku``, loading it when missing or stale (blocking: threadpool).
        While the database is unavailable: the stale snapshot if there is one, else
        :class:`DatabaseUnavailable`."""
        snap = self.peek(sku)
        if snap is not None:
            return snap
        with self._locks[hash(sku) % LOAD_LOCK_STRIPES]:  # one load per SKU at a time
            snap = self.peek(sku)
            if snap is None:
                try:
                    self.stats.misses += 1
                    MISSES.inc()
                    snap = self._reload(sku)
                except Exception as exc:
                    return self._during_outage(sku, exc)
            return snap

    def _reload(self, sku: str) -> SkuSnapshot:
        if time.monotonic() < self._outage_until:
            raise DatabaseUnavailable()
        start, generation = self.position, self.generation  # what the read reflects
        snap = self._load(sku, start)
        self._catch_up({sku: snap}, start, generation)
        return snap

    def _during_outage(self, sku: str, exc: Exception) -> SkuSnapshot:
        """After a failed load: the stale snapshot when the database is away, else re-raise."""
        if not isinstance(exc, DatabaseUnavailable):
            if not is_unavailable(exc):
                raise exc
            self._outage_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
        stale = self._snapshots.get(sku)
        if stale is None:
            raise exc
        self.stats.stale_served += 1
        return stale

    def stale(self, snap: SkuSnapshot) -> bool:
        """True for a snapshot served past its TTL because the database is unavailable."""
        return not snap.fresh(time.monotonic(), self.ttl)

    def get_many(self, skus: Iterable[str]) -> dict[str, SkuSnapshot]:
        """Snapshots of the known products among ``skus``: cached ones as they are, the
        missing ones read together (:func:`load_snapshots`; blocking: threadpool)."""
        found: dict[str, SkuSnapshot] = {}
        missing = []
        for sku in dict.fromkeys(skus):
            snap = self.peek(sku)
            if snap is None:
                missing.append(sku)
            else:
                found[sku] = snap
        if missing:
            self.stats.misses += len(missing)
            MISSES.inc(len(missing))
            start, generation = self.position, self.generation
            with self.db.read() as session:
                loaded = load_snapshots(session, missing)
            for snap in loaded.values():
                snap.watermark = start
            self._catch_up(loaded, start, generation)
            found.update(loaded)
        return found

    def get_at(self, sku: str, code: str) -> SkuSnapshot:
        """The snapshot of ``sku`` whose directory knows location ``code``: one built before
        that location existed is reloaded once (the ``directory.changed`` event normally got
        there first); :class:`UnknownLocation` when no such location exists."""
        snap = self.get(sku)
        if code in snap.directory.by_code:
            return snap
        with self.db.read() as session:
            exists = bool(catalog.places_by_code(session, [code]))
        if not exists:
            raise UnknownLocation(f"unknown location {code!r}", field="location")
        self.forget([sku])
        return self.get(sku)

    def _catch_up(self, snaps: dict[str, SkuSnapshot], start: int, generation: int) -> None:
        """Replay the events after ``start`` onto freshly read snapshots and keep them, unless
        a directory change dropped the cache while they were read (they use the old one)."""
        with self._patch_lock:
            for event in self._recent:
                snap = snaps.get(event["sku"]) if event["seq"] > start else None
                if snap is not None:
                    snap.patch(event)
            if generation == self.generation:
                for sku, snap in snaps.items():
                    self._store(sku, snap)

    def forget(self, skus: Collection[str] | None = None) -> None:
        """Drop the snapshots of ``skus``, or all of them (a location changed: every snapshot
        is indexed by the old directory). Loads in flight are not kept."""
        with self._patch_lock:
            self.generation += 1
            if skus is None:
                self._snapshots.clear()
            for sku in skus or ():
                self._snapshots.pop(sku, None)

    def _load(self, sku: str, start: int) -> SkuSnapshot:
        """A snapshot from the shared store when it has one, else from the database (then
        offered to the shared store). The shared store is a shortcut, not a source: when it
        fails the read goes to the database, and the store is left alone for
        ``OUTAGE_BACKOFF_SECONDS`` so a silent Redis does not cost every miss a timeout."""
        shared = self._shared_now()
        if shared is not None:
            try:
                snap = self._load_shared(sku, start)
            except SHARED_STATE_ERRORS as exc:
                self._shared_failed("read", exc)
            else:
                if snap is not None:
                    return snap
        with self.db.read() as session:
            snap = load_snapshot(session, sku)
        snap.watermark = start
        shared = self._shared_now()
        if shared is not None:
            try:
                shared.put(snap, self.ttl)
            except SHARED_STATE_ERRORS as exc:
                self._shared_failed("write", exc)
        return snap

    def _shared_now(self) -> SharedSnapshots | None:
        """The shared store, unless it failed less than ``OUTAGE_BACKOFF_SECONDS`` ago."""
        if self.shared is None or time.monotonic() < self._shared_outage_until:
            return None
        return self.shared

    def _shared_failed(self, what: str, exc: Exception) -> None:
        self.stats.shared_errors += 1
        SHARED_ERRORS.inc()
        self._shared_outage_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
        log.warning(
            "shared snapshot %s failed (%s); reading from the database for %.0f s",
            what,
            type(exc).__name__,
            OUTAGE_BACKOFF_SECONDS,
        )

    def _load_shared(self, sku: str, start: int) -> SkuSnapshot | None:
        assert self.shared is not None
        directory = catalog.cached_directory(str(self.db.read_engine.url))
        if directory is None:
            with self.db.read() as session:
                directory = catalog.directory(session)
        snap = self.shared.get(sku, directory)
        if snap is None:
            return None
        self.stats.shared_hits += 1
        if start > snap.watermark:
            from sincro.feed.tailer import read_events

            for event in read_events(self.db, snap.watermark, start, sku, None, limit=100_000):
                snap.patch(event)
        snap.watermark = max(start, snap.watermark)
        return snap

    def _store(self, sku: str, snap: SkuSnapshot) -> None:
        self._snapshots[sku] = snap
        self._snapshots.move_to_end(sku)
        while len(self._snapshots) > self.capacity:
            self._snapshots.popitem(last=False)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Patch cached snapshots with outbox events (called by the feed hub, in order)."""
        if not events:
            return
        with self._patch_lock:
            for event in events:
                snap = self._snapshots.get(event["sku"])
                if snap is not None:
                    self.stats.patches += 1
                    if not snap.patch(event):
                        self._snapshots.pop(event["sku"], None)
                self._recent.append(event)
            self.position = max(self.position, events[-1]["seq"])

    def clear(self) -> None:
        self.forget()


def load_snapshot(session: Session, sku: str) -> SkuSnapshot:
    """The snapshot of one SKU read now; :class:`UnknownSku` when there is no such product."""
    snap = load_snapshots(session, [sku]).get(sku)
    if snap is None:
        raise UnknownSku(f"unknown SKU {sku!r}", field="sku")
    return snap


def load_snapshots(session: Session, skus: Collection[str]) -> dict[str, SkuSnapshot]:
    """Snapshots of the known products among ``skus``, read in a handful of statements
    whatever their number: products, expired and next holds once, levels once per
    ``LEVELS_PER_READ`` rows (a cold 500-SKU batch over 1,810 locations: nine statements, not
    2,000, without holding a million rows at once)."""
    products = list(catalog.find_products(session, skus).values())
    if not products:
        return {}
    ids, now = [p.id for p in products], utcnow()
    expired = repo.expired_hold_quantities(session, ids, now)
    directory = catalog.directory(session)
    snaps = _read_levels(session, products, directory, expired)
    if isinstance(snaps, int):  # a location newer than this process's directory: once more
        directory = catalog.directory(session, need_id=snaps)
        snaps = _read_levels(session, products, directory, expired, skip_unplaced=True)
    assert not isinstance(snaps, int)
    for product_id, expiry in repo.next_hold_expiries(session, ids, now).items():
        snaps[product_id].next_expiry = expiry.timestamp()
    return {snap.sku: snap for snap in snaps.values()}


def _read_levels(
    session: Session,
    products: list[catalog.ProductRef],
    directory: LocationDirectory,
    expired: dict[tuple[int, int], int],
    skip_unplaced: bool = False,
) -> dict[int, SkuSnapshot] | int:
    """Snapshots by product id filled from their levels, or the id of the first location the
    directory lacks (unless ``skip_unplaced``: a level of a vanished location is left out)."""
    snaps = {p.id: SkuSnapshot(p.sku, p.id, p.name, directory) for p in products}
    per_read = max(1, LEVELS_PER_READ // max(1, len(directory.places)))
    ids = list(snaps)
    for first in range(0, len(ids), per_read):
        for level in repo.levels_for(session, ids[first : first + per_read]):
            place = directory.by_id.get(level.location_id)
            if place is not None:
                _fill(snaps[level.product_id], place.position, level, expired)
            elif not skip_unplaced:
                return level.location_id
    return snaps


def _fill(
    snap: SkuSnapshot, i: int, level: repo.LevelRow, expired: dict[tuple[int, int], int]
) -> None:
    reserved = level.reserved - expired.get((level.product_id, level.location_id), 0)
    snap.available[i] = max(0, level.on_hand - reserved - level.blocked - level.safety_stock)
    snap.on_hand[i] = level.on_hand
    snap.reserved[i] = reserved
    snap.version[i] = level.version
    snap.as_of[i] = level.as_of.timestamp()


# --- queries over a snapshot ------------------------------------------------------------


def at_location(snap: SkuSnapshot, code: str) -> dict[str, Any]:
    place = snap.directory.by_code.get(code)
    if place is None:
        raise UnknownLocation(f"unknown location {code!r}", field="location")
    return {**snap.summary(), "locations": [snap.row(place)]}


def near(
    snap: SkuSnapshot, lat: float, lon: float, radius_km: float, limit: int, in_stock: bool = True
) -> dict[str, Any]:
    """Locations with stock within ``radius_km`` of a point, nearest first."""
    lat_span = radius_km / 111.0
    found = []
    for place in snap.directory.places:
        if not place.active or abs(place.latitude - lat) > lat_span:
            continue
        if in_stock and snap.available[place.position] <= 0:
            continue
        distance = catalog.distance_km(lat, lon, place.latitude, place.longitude)
        if distance <= radius_km:
            found.append((distance, place))
    found.sort(key=lambda item: (item[0], item[1].code))
    rows = [snap.row(place, distance) for distance, place in found[:limit]]
    return {**snap.summary(), "total": len(found), "locations": rows}


def all_locations(
    snap: SkuSnapshot, offset: int, limit: int, in_stock: bool = False
) -> dict[str, Any]:
    places = sorted(
        (
            p
            for p in snap.directory.places
            if p.active and (not in_stock or snap.available[p.position] > 0)
        ),
        key=lambda p: p.code,
    )
    rows = [snap.row(p) for p in places[offset : offset + limit]]
    return {
        **snap.summary(),
        "total": len(places),
        "offset": offset,
        "limit": limit,
        "locations": rows,
    }
