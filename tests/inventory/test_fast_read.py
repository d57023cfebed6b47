"""The fast path of ``GET /v1/availability/{sku}`` (``inventory/fast_read.py``) against the
documented route, in one api on SQLite and PostgreSQL, and the cache's staleness bound.

Every request is sent twice, at the same moment and in the same process: once to the
application (the dispatcher, which may answer on the fast path) and once to FastAPI's own
entry (the documented route, the whole middleware stack). Both must give the same status,
headers and body, byte for byte; the fast path must have answered the two shapes it serves
(summary, ``?location=``) and handed everything else over. Then stock changes (a receipt, a
reservation, a sale emptying a store) reach the cache through the change feed, and the
answers must still agree with each other and with a snapshot read afresh from the database.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
from fastapi import FastAPI
from sqlalchemy import update

from sincro.access import service as access
from sincro.access.models import ApiKey, Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.inventory import availability, service as inventory
from sincro.inventory.availability import AvailabilityCache
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from tests.factories import make_location, make_product, receive
from tests.samples import sample

KEYS = {  # name: (role, locations, rate limit per minute)
    "shop": (Role.channel, (), None),
    "admin": (Role.admin, (), None),
    "store": (Role.store, ("LJ-A",), None),
    "tight": (Role.channel, (), 2),
}
Raw = list[tuple[bytes, bytes]]
Answer = tuple[int, Raw, bytes]

# (path with query, key name or literal value or None, extra raw headers, answered fast?)
REQUESTS: list[tuple[str, str | None, Raw, bool]] = [
    ("/v1/availability/P-1", "shop", [], False),  # the key's first request: authenticated there
    ("/v1/availability/P-1", "shop", [], True),
    ("/v1/availability/P-1?location=LJ-A", "shop", [], True),
    ("/v1/availability/P-1?location=CD-1", "admin", [], False),  # the admin key's first
    ("/v1/availability/P-1?location=CD-1", "admin", [], True),
    ("/v1/availability/P-1?location=LJ-OFF", "shop", [], True),  # inactive: still its row
    ("/v1/availability/P-2?location=LJ-B", "shop", [], False),  # cold: loaded by the route
    ("/v1/availability/P-2?location=LJ-B", "shop", [], True),
    ("/v1/availability/P-1", "admin", [], True),
    ("/v1/availability/P-1", "store", [], False),
    ("/v1/availability/P-1", "store", [], True),  # a store key reads availability too
    ("/v1/availability/P-2", "bearer:shop", [], True),
    ("/v1/availability/P-3", "shop", [], False),  # no stock anywhere
    ("/v1/availability/P-3", "shop", [], True),
    ("/v1/availability/NOPE-1", "shop", [], False),
    ("/v1/availability/P-1?location=ZZ-9", "shop", [], False),
    ("/v1/availability/P-1?location=bad%20code", "shop", [], False),
    ("/v1/availability/P-1?location=", "shop", [], False),
    ("/v1/availability/P-1?location=LJ%2DA", "shop", [], False),
    ("/v1/availability/P-1?location=LJ-A&location=LJ-B", "shop", [], False),
    ("/v1/availability/P-1?location=LJ-A&extra=1", "shop", [], False),
    ("/v1/availability/P-1?near=-23.5,-46.6&radius_km=50", "shop", [], False),
    ("/v1/availability/P-1?near=nowhere", "shop", [], False),
    ("/v1/availability/P-1?all=true&limit=2", "shop", [], False),
    ("/v1/availability/P-1?limit=0", "shop", [], False),
    ("/v1/availability/bad%20sku", "shop", [], False),
    ("/v1/availability/P-1/more", "shop", [], False),
    ("/v1/availability/", "shop", [], False),
    ("/v1/availability/" + "P" * 41, "shop", [], False),
    ("/v1/availability/P-1", "shop", [(b"x-api-key", b"sk_forged_secret")], False),  # twice
    ("/v1/availability/P-1", None, [], False),
    ("/v1/availability/P-1", "sk_forged_secret", [], False),
    ("/v1/availability/P-1", "not-a-key", [], False),
    ("/v1/availability/P-1", "tight", [], False),  # sent twice: 2 of 2 a minute spent
    ("/v1/availability/P-1", "tight", [], True),  # 429 from here on, on both paths
    ("/v1/availability/P-1?location=LJ-A", "tight", [], True),
]
CHECKED = ["/v1/availability/P-1", "/v1/availability/P-2", "/v1/availability/P-3"] + [
    f"/v1/availability/{sku}?location={code}"
    for sku in ("P-1", "P-2", "P-3")
    for code in ("LJ-A", "LJ-B", "CD-1", "LJ-OFF")
]


def _seed(db: Database) -> dict[str, str]:
    from tests.conftest import wipe

    wipe(db)
    with db.write() as s:
        make_location(s, code="CD-1", kind="dc", ships_online=True)
        make_location(s, code="LJ-A", latitude=-23.5, longitude=-46.6)
        make_location(s, code="LJ-B", latitude=-23.6, longitude=-46.7, ships_online=False)
        make_location(s, code="LJ-OFF", active=False)
        for sku in ("P-1", "P-2", "P-3"):
            make_product(s, sku=sku)
    with db.write() as s:
        receive(s, "P-1", "LJ-A", 30)
        receive(s, "P-1", "LJ-B", 3)
        receive(s, "P-1", "CD-1", 100)
        receive(s, "P-1", "LJ-OFF", 7)
        receive(s, "P-2", "LJ-B", 2)
    with db.write() as s:
        return {
            name: access.create_key(s, name, role, list(codes), limit)[1]
            for name, (role, codes, limit) in KEYS.items()
        }


def sell(session: Any, sku: str, location: str, qty: int) -> None:
    inventory.apply_movements(
        session,
        "test",
        [MovementIn(sku=sku, location=location, quantity=-qty, reason=Reason.sale)],
    )


async def _call(app: Any, path: str, headers: Raw) -> Answer:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path.replace("%20", " "),  # as a server decodes the path
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    status, sent, chunks = 0, [], []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            sent.extend(message.get("headers", ()))
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, sent, b"".join(chunks)


def _raw_headers(keys: dict[str, str], who: str | None, extra: Raw) -> Raw:
    if who is None:
        return list(extra)
    if who.startswith("bearer:"):
        return [(b"authorization", f"Bearer {keys[who[7:]]}".encode()), *extra]
    return [(b"x-api-key", keys.get(who, who).encode()), *extra]


def _answered() -> float:
    labels = {"decision": "answered"}
    return sample("sincro_availability_fast_path_total", labels)


def _latency_count(status: int) -> float:
    labels = {"method": "GET", "route": "/v1/availability/{sku}", "status": str(status)}
    return sample("sincro_http_request_duration_seconds_count", labels)


def _same(fast: Answer, slow: Answer, what: str) -> None:
    if fast[0] == 429:  # the wait is rounded up to whole seconds: a second may tick between
        fast = (fast[0], [h for h in fast[1] if h[0] != b"retry-after"], fast[2])
        slow = (slow[0], [h for h in slow[1] if h[0] != b"retry-after"], slow[2])
    assert fast == slow, what


def _fresh(db: Database, path: str) -> bytes:
    """The answer computed from a snapshot read now from the database."""
    sku, _, query = path.removeprefix("/v1/availability/").partition("?location=")
    with db.read() as session:
        snap = availability.load_snapshot(session, sku)
    if not query:
        return snap.summary_json()
    return orjson.dumps(availability.at_location(snap, query))


AS_OF = re.compile(rb'"as_of":"[^"]*"')


async def _until_fed(app: Any, keys: dict[str, str], db: Database) -> None:
    """Wait (up to 10 s) until the change feed brought every checked answer to what the
    database says now (but ``as_of``: a patched row shows the event's time, a loaded one the
    level's, a few milliseconds apart)."""
    headers = _raw_headers(keys, "shop", [])
    deadline = time.monotonic() + 10
    while True:
        answers = [AS_OF.sub(b"", (await _call(app, path, headers))[2]) for path in CHECKED]
        wanted = [AS_OF.sub(b"", _fresh(db, path)) for path in CHECKED]
        if answers == wanted or time.monotonic() > deadline:
            assert answers == wanted
            return
        await asyncio.sleep(0.05)


def test_fast_read_answers_exactly_as_the_documented_route(
    db: Database, settings: Settings
) -> None:
    keys = _seed(db)
    app = create_app(settings.model_copy(update={"inventory_fast_read": True}))
    documented = FastAPI.__call__.__get__(app)  # the route behind the dispatcher

    async def main() -> None:
        async with app.router.lifespan_context(app):
            statuses = set()
            for i, (path, who, extra, fast_expected) in enumerate(REQUESTS):
                headers = _raw_headers(keys, who, extra)
                answered, counted = _answered(), _latency_count(200) + _latency_count(429)
                fast = await _call(app, path, headers)
                took_fast = _answered() > answered
                assert took_fast == fast_expected, f"request {i} {path} {who}"
                if took_fast:  # the latency metric as the documented route records it
                    assert _latency_count(200) + _latency_count(429) == counted + 1
                slow = await _call(documented, path, headers)
                _same(fast, slow, f"request {i} {path} {who}")
                statuses.add(fast[0])
            assert {200, 401, 404, 422, 429} <= statuses

            shop = _raw_headers(keys, "shop", [])
            for change in range(4):
                with db.write() as s:
                    if change == 0:
                        receive(s, "P-1", "LJ-A", 5)
                    elif change == 1:
                        sell(s, "P-1", "LJ-B", 3)  # LJ-B runs out: one store fewer
                    elif change == 2:
                        receive(s, "P-3", "CD-1", 4)  # first stock of P-3, online
                    else:
                        sell(s, "P-2", "LJ-B", 2)
                body = orjson.dumps({"lines": [{"sku": "P-1", "qty": 2, "location": "LJ-A"}]})
                reserved = await _call_post(app, "/v1/reservations", shop, body, change)
                assert reserved == 201
                await _until_fed(app, keys, db)
                for path in CHECKED:
                    answered = _answered()
                    fast = await _call(app, path, shop)
                    assert _answered() == answered + 1, path
                    _same(fast, await _call(documented, path, shop), f"{change}: {path}")

    asyncio.run(main())


async def _call_post(app: Any, path: str, headers: Raw, body: bytes, n: int) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"idempotency-key", f"fast-read-{n}".encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def test_fast_read_can_be_turned_off(db: Database, settings: Settings) -> None:
    keys = _seed(db)
    app = create_app(settings.model_copy(update={"inventory_fast_read": False}))
    headers = _raw_headers(keys, "shop", [])

    async def main() -> None:
        async with app.router.lifespan_context(app):
            answered = _answered()
            for _ in range(3):
                status, _, _ = await _call(app, "/v1/availability/P-1", headers)
                assert status == 200
            assert _answered() == answered

    asyncio.run(main())


def test_a_key_in_use_is_reread_in_the_background_and_the_fast_read_keeps_answering(
    db: Database, settings: Settings
) -> None:
    """Past half its cache life, a key is re-read once, off the loop, while the fast route
    goes on answering from the cached principal; a key revoked meanwhile is dropped by that
    re-read, and the documented route then refuses it (before, every request at the moment a
    busy process's entry expired went through the stack to read the key itself)."""
    keys = _seed(db)
    app = create_app(settings)
    headers = _raw_headers(keys, "shop", [])
    plaintext = keys["shop"]

    def age(seconds: float) -> None:
        at, principal = access._key_cache[plaintext]
        access._key_cache[plaintext] = (at - seconds, principal)

    async def read_until(renewed: Any) -> None:
        deadline = time.monotonic() + 10
        while not renewed():
            assert time.monotonic() < deadline, "the key was not re-read"
            await asyncio.sleep(0.02)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await _until_fed(app, keys, db)
            assert (await _call(app, "/v1/availability/P-1", headers))[0] == 200
            age(access.KEY_REFRESH_AFTER_SECONDS + 1)
            answered = _answered()
            for _ in range(20):  # one re-read for all of them
                assert (await _call(app, "/v1/availability/P-1", headers))[0] == 200
            assert _answered() == answered + 20
            await read_until(lambda: time.monotonic() - access._key_cache[plaintext][0] < 5)
            assert not access.use_cached(plaintext)[1]  # re-read: young again

            with db.write() as s:  # revoked by another process: this one's cache is not told
                s.execute(update(ApiKey).where(ApiKey.name == "shop").values(active=False))
            age(access.KEY_REFRESH_AFTER_SECONDS + 1)
            assert (await _call(app, "/v1/availability/P-1", headers))[0] == 200  # cached
            await read_until(lambda: plaintext not in access._key_cache)
            status, _, body = await _call(app, "/v1/availability/P-1", headers)
            assert status == 401 and b"revoked" in body

    asyncio.run(main())


# --- staleness: the TTL bounds a figure's age, refreshes happen in the background ---------


def _changed_behind_the_feed(db: Database, qty: int) -> None:
    """A stock change the cache is never told of (a missed event: what the TTL is for)."""
    with db.write() as s:
        receive(s, "P-1", "CD-1", qty)


def _online(snap: availability.SkuSnapshot | None) -> int | None:
    return None if snap is None else snap.summary()["online_available"]


def test_a_due_snapshot_is_served_and_refreshed_in_the_background(db: Database) -> None:
    _seed(db)
    cache = AvailabilityCache(db, ttl_seconds=2.0)
    snap = cache.get("P-1")
    assert _online(snap) == 130  # CD-1 100 + LJ-A 30 (LJ-B does not ship online)
    snap.ttl_share = 0.25  # due after 0.5 s, expired after 2 s
    _changed_behind_the_feed(db, 10)
    assert _online(cache.peek("P-1")) == 130 and cache.stats.refreshes == 0  # not due yet
    time.sleep(0.6)
    assert cache.peek("P-1") is snap  # due: served as it is, a refresh queued
    deadline = time.monotonic() + 10
    while cache.peek("P-1") is snap and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cache.stats.refreshes == 1 and cache.stats.misses == 1  # the first load only
    assert _online(cache.peek("P-1")) == 140
    assert time.monotonic() - snap.loaded_at < 2.0  # refreshed before its TTL ran out


def test_no_figure_outlives_the_ttl_unread(db: Database) -> None:
    """A snapshot nobody read while it was due is reloaded by the first read past the TTL
    (a miss, as a cold SKU): the answer is never older than the TTL."""
    _seed(db)
    cache = AvailabilityCache(db, ttl_seconds=0.5)
    snap = cache.get("P-1")
    _changed_behind_the_feed(db, 10)
    time.sleep(0.6)
    assert cache.peek("P-1") is None  # past the TTL: not served from the cache
    assert _online(cache.get("P-1")) == 140
    assert cache.stats.misses == 2 and cache.stats.refreshes == 0
    assert cache.peek("P-1") is not snap


def test_a_patched_summary_equals_one_computed_afresh(db: Database) -> None:
    """The summary moves with each event by that location's change; the totals equal a
    pass over every location."""
    _seed(db)
    cache = AvailabilityCache(db)
    snap = cache.get("P-1")
    snap.summary_json()
    seq = 10**12
    for i, (code, available) in enumerate(
        [("LJ-A", 0), ("LJ-B", 9), ("CD-1", 0), ("LJ-OFF", 0), ("LJ-A", 4), ("CD-1", 1)]
    ):
        seq += 1
        cache.apply_events(
            [
                {
                    "seq": seq,
                    "sku": "P-1",
                    "location": code,
                    "available": available,
                    "on_hand": available,
                    "reserved": 0,
                    "version": 1000 + i,
                    "at": "2026-01-01T00:00:00+00:00",
                }
            ]
        )
        moved = snap.summary_json()
        snap._summary = snap._summary_dict = None  # computed again from every location
        assert moved == snap.summary_json(), code
