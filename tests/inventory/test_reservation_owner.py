"""Reservations belong to the key that made them: other channel keys get the 404 of a missing
reservation, and the feed every key reads does not carry reservation ids. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.factories import make_key, make_location, make_product, receive


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with db.write() as s:
        make_location(s, code="CD01", kind="dc")
        make_product(s, sku="CEL-1")
        keys = {
            "mine": make_key(s, Role.channel),
            "other": make_key(s, Role.channel),
            "admin": make_key(s, Role.admin),
        }
    with db.write() as s:
        receive(s, "CEL-1", "CD01", 10)
    with TestClient(create_app(settings)) as client:
        yield client, keys


def _reserve(client: TestClient, key: str) -> str:
    r = client.post(
        "/v1/reservations", json={"lines": [{"sku": "CEL-1", "qty": 2}]}, headers={"X-API-Key": key}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "/commit", None),
        ("POST", "/release", None),
        ("POST", "/extend", {"ttl_seconds": 60}),
    ],
)
def test_another_channel_sees_a_missing_reservation(
    api: tuple[TestClient, dict[str, str]], method: str, suffix: str, body: dict | None
) -> None:
    client, keys = api
    rid = _reserve(client, keys["mine"])
    other = client.request(
        method, f"/v1/reservations/{rid}{suffix}", json=body, headers={"X-API-Key": keys["other"]}
    )
    missing = client.request(
        method,
        f"/v1/reservations/00000000-0000-0000-0000-000000000000{suffix}",
        json=body,
        headers={"X-API-Key": keys["other"]},
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    assert other.json()["error"]["field"] == missing.json()["error"]["field"] == "id"
    # nothing changed: the owner still holds it, and may act on it; admin keys see everything
    headers = {"X-API-Key": keys["mine"]}
    assert client.get(f"/v1/reservations/{rid}", headers=headers).json()["status"] == "active"
    admin = {"X-API-Key": keys["admin"]}
    assert client.get(f"/v1/reservations/{rid}", headers=admin).status_code == 200
    r = client.request(method, f"/v1/reservations/{rid}{suffix}", json=body, headers=headers)
    assert r.status_code == 200, r.text


def test_the_feed_does_not_announce_reservation_ids(
    api: tuple[TestClient, dict[str, str]], db: Database
) -> None:
    client, keys = api
    committed = _reserve(client, keys["mine"])
    released = _reserve(client, keys["mine"])
    headers = {"X-API-Key": keys["mine"]}
    assert client.post(f"/v1/reservations/{committed}/commit", headers=headers).status_code == 200
    assert client.post(f"/v1/reservations/{released}/release", headers=headers).status_code == 200
    with db.read() as s:
        announced = {row[0] for row in s.execute(text("SELECT reference FROM events"))}
        ledger = {row[0] for row in s.execute(text("SELECT reference FROM movements"))}
    assert {committed, released} <= ledger  # the ledger keeps them for audit
    assert not {committed, released} & announced
