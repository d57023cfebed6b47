"""The inventory API end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.inventory.runtime import availability_cache
from tests.factories import make_key, make_location, make_product


@pytest.fixture
def world(db: Database, settings: Settings) -> Iterator[dict]:
    with db.write() as s:
        dc = make_location(s, code="CD01", kind="dc", latitude=-23.3, longitude=-46.8)
        near = make_location(s, code="LJ-SP", latitude=-23.56, longitude=-46.65)
        far = make_location(
            s,
            code="LJ-POA",
            city="Porto Alegre",
            state="RS",
            latitude=-30.03,
            longitude=-51.23,
            ships_online=False,
        )
        phone = make_product(s, sku="CEL-1", name="Smartphone X")
        chip = make_product(s, sku="CHIP-1", name="Chip 5G")
        keys = {
            "admin": make_key(s, Role.admin),
            "channel": make_key(s, Role.channel),
            "store": make_key(s, Role.store, ("LJ-SP",)),
        }
    app = create_app(settings)
    with TestClient(app) as client:
        yield {
            "client": client,
            "keys": keys,
            "dc": dc,
            "near": near,
            "far": far,
            "phone": phone,
            "chip": chip,
        }


def h(world: dict, role: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": world["keys"][role], **extra}


def move(world: dict, items: list[dict], key: str = "k1", role: str = "admin"):
    return world["client"].post(
        "/v1/movements",
        json={"movements": items},
        headers=h(world, role, **{"Idempotency-Key": key}),
    )


def test_movement_then_availability(world: dict) -> None:
    c = world["client"]
    r = move(
        world,
        [
            {"sku": "CEL-1", "location": "CD01", "quantity": 10, "reason": "receipt"},
            {"sku": "CEL-1", "location": "LJ-SP", "quantity": 3, "reason": "receipt"},
            {"sku": "CEL-1", "location": "LJ-POA", "quantity": 4, "reason": "receipt"},
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 3
    r = c.get("/v1/availability/CEL-1", headers=h(world, "channel"))
    assert r.status_code == 200
    body = r.json()
    assert body["online_available"] == 13  # POA does not ship online
    assert body["locations_with_stock"] == 3
    r = c.get("/v1/availability/CEL-1?location=LJ-POA", headers=h(world, "channel"))
    assert r.json()["locations"][0]["available"] == 4
    r = c.get("/v1/availability/CEL-1?near=-23.55,-46.63&radius_km=50", headers=h(world, "channel"))
    rows = r.json()["locations"]
    assert [row["location"] for row in rows] == ["LJ-SP", "CD01"]
    r = c.get("/v1/availability/CEL-1?all=true&limit=2", headers=h(world, "channel"))
    assert r.json()["total"] == 3 and len(r.json()["locations"]) == 2


def test_idempotent_movements(world: dict) -> None:
    item = [{"sku": "CHIP-1", "location": "CD01", "quantity": 5, "reason": "receipt"}]
    first = move(world, item, key="same")
    again = move(world, item, key="same")
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = move(world, [{**item[0], "quantity": 6}], key="same")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    r = world["client"].get("/v1/stock/CD01/CHIP-1", headers=h(world, "admin"))
    assert r.json()["on_hand"] == 5


def test_batch_is_all_or_nothing(world: dict) -> None:
    move(world, [{"sku": "CHIP-1", "location": "CD01", "quantity": 2, "reason": "receipt"}])
    r = move(
        world,
        [
            {"sku": "CHIP-1", "location": "CD01", "quantity": -1, "reason": "sale"},
            {"sku": "CEL-1", "location": "CD01", "quantity": -1, "reason": "sale"},
            {"sku": "CHIP-1", "location": "LJ-SP", "quantity": -5, "reason": "sale"},
        ],
        key="k2",
    )
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "insufficient_stock"
    assert [d["field"] for d in err["details"]] == [
        "movements[1].quantity",
        "movements[2].quantity",
    ]
    stock = world["client"].get("/v1/stock/CD01/CHIP-1", headers=h(world, "admin")).json()
    assert stock["on_hand"] == 2


def test_reservation_lifecycle(world: dict) -> None:
    c = world["client"]
    move(
        world,
        [
            {"sku": "CEL-1", "location": "CD01", "quantity": 5, "reason": "receipt"},
            {"sku": "CHIP-1", "location": "LJ-SP", "quantity": 5, "reason": "receipt"},
        ],
    )
    r = c.post(
        "/v1/reservations",
        headers=h(world, "channel"),
        json={
            "lines": [{"sku": "CEL-1", "qty": 2}, {"sku": "CHIP-1", "qty": 1}],
            "ship_to": {"lat": -23.55, "lon": -46.63},
            "ttl_seconds": 60,
        },
    )
    assert r.status_code == 201, r.text
    res = r.json()
    assert sorted((ln["sku"], ln["location"], ln["qty"]) for ln in res["lines"]) == [
        ("CEL-1", "CD01", 2),
        ("CHIP-1", "LJ-SP", 1),
    ]
    summary = c.get("/v1/availability/CEL-1", headers=h(world, "channel")).json()
    assert summary["online_available"] == 3
    r = c.post(f"/v1/reservations/{res['id']}/commit", headers=h(world, "channel"))
    assert r.status_code == 200 and r.json()["status"] == "committed"
    again = c.post(f"/v1/reservations/{res['id']}/commit", headers=h(world, "channel"))
    assert again.status_code == 200
    stock = c.get("/v1/stock/CD01/CEL-1", headers=h(world, "admin")).json()
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)
    r = c.post(f"/v1/reservations/{res['id']}/release", headers=h(world, "channel"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "reservation_closed"


def test_short_reservation_lists_every_line(world: dict) -> None:
    c = world["client"]
    move(world, [{"sku": "CEL-1", "location": "LJ-SP", "quantity": 1, "reason": "receipt"}])
    r = c.post(
        "/v1/reservations",
        headers=h(world, "channel"),
        json={
            "lines": [{"sku": "CEL-1", "qty": 2, "location": "LJ-SP"}, {"sku": "CHIP-1", "qty": 1}]
        },
    )
    assert r.status_code == 409
    details = r.json()["error"]["details"]
    assert {d["sku"] for d in details} == {"CEL-1", "CHIP-1"}
    stock = c.get("/v1/stock/LJ-SP/CEL-1", headers=h(world, "admin")).json()
    assert stock["reserved"] == 0


def hold_for_a_second(world: dict, qty: int) -> Any:
    """Receive 2 units of CEL-1 at CD01 and hold ``qty`` of them for one second."""
    move(world, [{"sku": "CEL-1", "location": "CD01", "quantity": 2, "reason": "receipt"}])
    r = world["client"].post(
        "/v1/reservations",
        headers=h(world, "channel"),
        json={"lines": [{"sku": "CEL-1", "qty": qty, "location": "CD01"}], "ttl_seconds": 1},
    )
    assert r.status_code == 201
    return r


def test_expired_reservation_stops_counting_at_once(world: dict) -> None:
    c = world["client"]
    r = hold_for_a_second(world, 2)
    assert (
        c.get("/v1/availability/CEL-1", headers=h(world, "channel")).json()["online_available"] == 0
    )
    time.sleep(1.2)
    assert (
        c.get("/v1/availability/CEL-1", headers=h(world, "channel")).json()["online_available"] == 2
    )
    r2 = c.post(
        "/v1/reservations",
        headers=h(world, "channel"),
        json={"lines": [{"sku": "CEL-1", "qty": 2, "location": "CD01"}]},
    )
    assert r2.status_code == 201
    r = c.post(f"/v1/reservations/{r.json()['id']}/commit", headers=h(world, "channel"))
    assert r.status_code == 409


def test_reservation_reads_expired_once_its_time_is_up(world: dict) -> None:
    """No sweep runs here: the status is computed on read, as commit decides it."""
    c = world["client"]
    r = hold_for_a_second(world, 1)
    url = f"/v1/reservations/{r.json()['id']}"
    assert c.get(url, headers=h(world, "channel")).json()["status"] == "active"
    time.sleep(1.1)
    assert c.get(url, headers=h(world, "channel")).json()["status"] == "expired"
    refused = c.post(f"{url}/commit", headers=h(world, "channel"))
    assert refused.status_code == 409
    assert "expired" in refused.text


def test_put_stock_with_if_match(world: dict) -> None:
    c = world["client"]
    first = c.get("/v1/stock/LJ-SP/CEL-1", headers=h(world, "store"))
    version = first.headers["ETag"]
    r = c.put(
        "/v1/stock/LJ-SP/CEL-1",
        json={"on_hand": 7},
        headers=h(world, "store", **{"If-Match": version}),
    )
    assert r.status_code == 200 and r.json()["on_hand"] == 7
    stale = c.put(
        "/v1/stock/LJ-SP/CEL-1",
        json={"on_hand": 9},
        headers=h(world, "store", **{"If-Match": version}),
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["details"][0]["current_version"] == r.json()["version"]
    missing = c.put("/v1/stock/LJ-SP/CEL-1", json={"on_hand": 9}, headers=h(world, "store"))
    assert missing.status_code == 428


def test_access_rules(world: dict) -> None:
    c = world["client"]
    assert c.get("/v1/availability/CEL-1").status_code == 401
    assert c.get("/v1/availability/CEL-1", headers={"X-API-Key": "sk_nope_nope"}).status_code == 401
    r = move(
        world,
        [{"sku": "CEL-1", "location": "CD01", "quantity": 1, "reason": "receipt"}],
        role="store",
    )
    assert r.status_code == 403 and r.json()["error"]["field"] == "movements[0].location"
    r = move(
        world,
        [{"sku": "CEL-1", "location": "LJ-SP", "quantity": 1, "reason": "receipt"}],
        role="store",
    )
    assert r.status_code == 200
    assert (
        move(
            world,
            [{"sku": "CEL-1", "location": "LJ-SP", "quantity": 1, "reason": "receipt"}],
            role="channel",
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    "path,body,field",
    [
        (
            "/v1/movements",
            {
                "movements": [
                    {"sku": "CEL-1", "location": "CD01", "quantity": 0, "reason": "receipt"}
                ]
            },
            "movements[0]",
        ),
        (
            "/v1/movements",
            {"movements": [{"sku": "CEL-1", "location": "CD01", "quantity": 1, "reason": "nope"}]},
            "movements[0].reason",
        ),
        ("/v1/movements", {"movements": []}, "movements"),
        ("/v1/reservations", {"lines": [{"sku": "CEL-1", "qty": -1}]}, "lines[0].qty"),
        ("/v1/reservations", {"lines": [{"sku": "NOPE", "qty": 1}]}, "lines[0].sku"),
        ("/v1/availability/query", {"skus": []}, "skus"),
    ],
)
def test_bad_input_names_the_field(world: dict, path: str, body: dict, field: str) -> None:
    r = world["client"].post(path, json=body, headers=h(world, "admin", **{"Idempotency-Key": "x"}))
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"]["field"].startswith(field)


def test_malformed_json_is_422(world: dict) -> None:
    r = world["client"].post(
        "/v1/reservations",
        content=b"{not json",
        headers=h(world, "admin", **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 422
    assert (
        world["client"].get("/v1/availability/NOPE", headers=h(world, "admin")).status_code == 404
    )


def test_warm_cache_follows_the_feed(world: dict) -> None:
    """A cached snapshot is patched by the outbox tailer, not reloaded."""
    c = world["client"]
    state = c.app.state.sincro
    move(world, [{"sku": "CHIP-1", "location": "CD01", "quantity": 4, "reason": "receipt"}])
    assert (
        c.get("/v1/availability/CHIP-1", headers=h(world, "channel")).json()["online_available"]
        == 4
    )
    misses = availability_cache(state).stats.misses
    move(
        world,
        [{"sku": "CHIP-1", "location": "CD01", "quantity": 3, "reason": "receipt"}],
        key="k-warm",
    )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        body = c.get("/v1/availability/CHIP-1", headers=h(world, "channel")).json()
        if body["online_available"] == 7:
            break
        time.sleep(0.02)
    assert body["online_available"] == 7
    assert availability_cache(state).stats.misses == misses, (
        "the snapshot was reloaded instead of patched"
    )
    assert availability_cache(state).stats.patches >= 1


def test_beat_sends_the_expiry_sweep_only_once_a_hold_is_past_its_time(
    world: dict, db: Database, settings: Settings
) -> None:
    """The sweep's gate (``sincro.beat``) is the sweep's own first read: closed with no hold or
    only live ones, open once a hold's time is up, closed again after the sweep ran."""
    from sincro.inventory import service
    from sincro.inventory.schedule import beat_entries, holds_expired

    entry = beat_entries(settings)["expire-reservations"]
    assert entry["gate"] is holds_expired
    assert entry["schedule"] == settings.expiry_sweep_seconds
    assert not holds_expired(db, settings)
    hold_for_a_second(world, 2)
    assert not holds_expired(db, settings)
    time.sleep(1.1)
    assert holds_expired(db, settings)
    with db.write() as session:  # the sweep's work
        assert service.expire_holds(session) == 1
    assert not holds_expired(db, settings)
    stock = world["client"].get("/v1/stock/CD01/CEL-1", headers=h(world, "admin")).json()
    assert (stock["on_hand"], stock["reserved"]) == (2, 0)
