"""Webhooks end to end: API, signed ordered delivery to a real HTTP receiver, retries, leases."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from sincro import safe_http
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.events import AvailabilityChange, record_events
from sincro.feed import repository as repo, webhooks
from sincro.feed.models import WebhookSubscription
from sincro.feed.service import webhook_policy
from sincro.feed.webhooks import backoff_seconds, sign, verify_signature
from tests.factories import make_key, make_location, make_product
from tests.feed.conftest import Receiver, change_stock, last_seq


@dataclass
class World:
    client: TestClient
    db: Database
    settings: Settings
    receiver: Receiver
    admin: dict[str, str]
    channel: dict[str, str]

    def subscribe(self, path: str = "/hook", **filters: str) -> dict[str, Any]:
        r = self.client.post(
            "/v1/webhooks", json={"url": self.receiver.url(path), **filters}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        body = r.json()
        self.receiver.secrets[path] = body["secret"]
        return body

    def get(self, sub_id: int) -> dict[str, Any]:
        r = self.client.get(f"/v1/webhooks/{sub_id}", headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def deliveries(self, sub_id: int, query: str = "") -> list[dict[str, Any]]:
        r = self.client.get(f"/v1/webhooks/{sub_id}/deliveries{query}", headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()["items"]  # type: ignore[no-any-return]

    def dispatch(self) -> int:
        return webhooks.dispatch_all(db=self.db, settings=self.settings)

    def make_due(self, sub_id: int) -> None:
        """Skip the backoff wait: the retry time has come."""
        with self.db.write() as s:
            s.execute(
                update(WebhookSubscription)
                .where(WebhookSubscription.id == sub_id)
                .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
            )


@pytest.fixture
def world(db: Database, settings: Settings, receiver: Receiver) -> Iterator[World]:
    # the receiver listens on loopback, which webhooks refuse unless the host is allowed
    settings.feed_webhook_allowed_hosts = ["127.0.0.1"]
    with db.write() as s:
        for code in ("LJ-A", "LJ-B"):
            make_location(s, code=code)
        for sku in ("CEL-1", "CHIP-1"):
            make_product(s, sku=sku)
        admin = make_key(s, Role.admin)
        channel = make_key(s, Role.channel)
    change_stock(db, ("CEL-1", "LJ-A", 1))  # the wiped outbox's end is the sequence's end again
    with TestClient(create_app(settings)) as client:
        yield World(client, db, settings, receiver, {"X-API-Key": admin}, {"X-API-Key": channel})


ALLOWED = "http://127.0.0.1/hook"  # a host the world fixture allows


def receipts(n: int, sku: str = "CEL-1", location: str = "LJ-A") -> list[tuple[str, str, int]]:
    return [(sku, location, 1)] * n


def test_secret_is_shown_only_at_creation(world: World) -> None:
    change_stock(world.db, *receipts(3))
    created = world.subscribe()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["cursor_seq"] == last_seq(world.db)  # starts at the end of the outbox
    assert created["active"] is True and created["attempts"] == 0
    assert "secret" not in world.get(created["id"])
    listed = world.client.get("/v1/webhooks", headers=world.admin).json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]
    assert world.dispatch() == 0 and world.receiver.requests == []


def test_delivers_signed_batches_in_order(world: World) -> None:
    sub = world.subscribe()
    seqs = change_stock(world.db, *receipts(120))
    seqs += change_stock(world.db, *receipts(30, "CHIP-1", "LJ-B"))
    assert world.dispatch() == 150
    first, second = world.receiver.accepted()
    assert (len(first.seqs), len(second.seqs)) == (100, 50)
    assert world.receiver.delivered_seqs() == seqs
    assert first.headers["Sincro-Delivery"] == f"{seqs[0]}-{seqs[99]}"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Sincro-Signature"].startswith("t=")
    event = json.loads(first.body)["events"][0]
    assert set(event) == {
        "seq",
        "sku",
        "location",
        "available",
        "on_hand",
        "reserved",
        "version",
        "cause",
        "reference",
        "at",
    }
    assert (event["sku"], event["location"], event["cause"]) == ("CEL-1", "LJ-A", "receipt")
    assert world.get(sub["id"])["cursor_seq"] == seqs[-1]
    log = world.deliveries(sub["id"])
    assert [(d["seq"], d["success"], d["status_code"]) for d in log] == [
        (seqs[100], True, 204),
        (seqs[0], True, 204),
    ]
    assert world.dispatch() == 0 and len(world.receiver.requests) == 2


def test_failures_back_off_and_retry_without_loss_or_duplicates(world: World) -> None:
    sub = world.subscribe()
    world.receiver.fail_next = 2
    seqs = change_stock(world.db, *receipts(3))
    assert world.dispatch() == 0
    state = world.get(sub["id"])
    wait = dt.datetime.fromisoformat(state["next_attempt_at"]) - utcnow()
    assert state["attempts"] == 1 and dt.timedelta(0) < wait <= dt.timedelta(seconds=2)
    assert world.dispatch() == 0 and len(world.receiver.requests) == 1  # backoff respected
    world.make_due(sub["id"])
    assert world.dispatch() == 0
    state = world.get(sub["id"])
    wait = dt.datetime.fromisoformat(state["next_attempt_at"]) - utcnow()
    assert state["attempts"] == 2 and dt.timedelta(seconds=1) < wait <= dt.timedelta(seconds=4)
    seqs += change_stock(world.db, *receipts(2))
    world.make_due(sub["id"])
    assert world.dispatch() == 5
    assert world.receiver.delivered_seqs() == seqs
    assert [r.seqs[0] for r in world.receiver.requests] == [seqs[0]] * 3  # retried from N
    state = world.get(sub["id"])
    assert (state["attempts"], state["next_attempt_at"], state["cursor_seq"]) == (0, None, seqs[-1])
    log = world.deliveries(sub["id"])
    assert [(d["attempt"], d["success"], d["status_code"]) for d in log] == [
        (3, True, 204),
        (2, False, 500),
        (1, False, 500),
    ]
    assert "HTTP 500" in log[1]["error"] and log[1]["seq"] == seqs[0]
    assert all(d["duration_ms"] >= 0 and d["attempted_at"] for d in log)
    assert len(world.deliveries(sub["id"], "?success=false")) == 2
    assert len(world.deliveries(sub["id"], "?limit=1&offset=2")) == 1


def test_deactivated_after_max_attempts_then_resumed(world: World) -> None:
    world.settings.webhook_max_attempts = 3
    sub = world.subscribe()
    world.receiver.fail_next = 1000
    seqs = change_stock(world.db, *receipts(4))
    for _ in range(3):
        world.make_due(sub["id"])
        assert world.dispatch() == 0
    state = world.get(sub["id"])
    assert (state["active"], state["attempts"]) == (False, 3)
    world.make_due(sub["id"])
    assert world.dispatch() == 0 and len(world.receiver.requests) == 3  # no longer tried
    assert len(world.deliveries(sub["id"], "?success=false")) == 3
    world.receiver.fail_next = 0
    seqs += change_stock(world.db, *receipts(2))
    r = world.client.post(f"/v1/webhooks/{sub['id']}/resume", headers=world.admin)
    assert r.status_code == 200
    assert (r.json()["active"], r.json()["attempts"], r.json()["cursor_seq"]) == (
        True,
        0,
        sub["cursor_seq"],
    )
    assert world.dispatch() == 6
    assert world.receiver.delivered_seqs() == seqs


def test_filters_by_sku_and_location(world: World) -> None:
    subs = {
        "/sku": world.subscribe("/sku", sku="CHIP-1"),
        "/loc": world.subscribe("/loc", location="LJ-B"),
        "/both": world.subscribe("/both", sku="CHIP-1", location="LJ-B"),
    }
    change_stock(world.db, ("CEL-1", "LJ-A", 1), ("CHIP-1", "LJ-A", 2), ("CEL-1", "LJ-B", 3))
    change_stock(world.db, ("CHIP-1", "LJ-B", 4), ("CEL-1", "LJ-A", 5))
    world.dispatch()

    def delivered(path: str) -> list[tuple[str, str, int]]:
        events = [json.loads(r.body)["events"] for r in world.receiver.accepted(path)]
        return [(e["sku"], e["location"], e["on_hand"]) for batch in events for e in batch]

    assert delivered("/sku") == [("CHIP-1", "LJ-A", 2), ("CHIP-1", "LJ-B", 4)]
    assert delivered("/loc") == [("CEL-1", "LJ-B", 3), ("CHIP-1", "LJ-B", 4)]
    assert delivered("/both") == [("CHIP-1", "LJ-B", 4)]
    change_stock(world.db, ("CEL-1", "LJ-A", 1))  # matches none of them
    world.dispatch()
    for sub in subs.values():  # cursors move past filtered-out events too
        assert world.get(sub["id"])["cursor_seq"] == last_seq(world.db)
    assert len(world.receiver.requests) == 3


@pytest.mark.parametrize(
    "body,field",
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://example.com/" + "x" * 500}, "url"),
        ({}, "url"),
        ({"url": ALLOWED, "sku": "bad sku!"}, "sku"),
        ({"url": ALLOWED, "sku": "NOPE-1"}, "sku"),
        ({"url": ALLOWED, "location": "NOPE"}, "location"),
        ({"url": ALLOWED, "secret": "mine"}, "secret"),
    ],
)
def test_bad_input_names_the_field(world: World, body: dict[str, Any], field: str) -> None:
    r = world.client.post("/v1/webhooks", json=body, headers=world.admin)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_unknown_ids_access_and_delete(world: World) -> None:
    c = world.client
    for method, path in [
        ("GET", "/v1/webhooks/999999"),
        ("DELETE", "/v1/webhooks/999999"),
        ("POST", "/v1/webhooks/999999/resume"),
        ("GET", "/v1/webhooks/999999/deliveries"),
    ]:
        r = c.request(method, path, headers=world.admin)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert c.get("/v1/webhooks/abc", headers=world.admin).json()["error"]["field"] == "sub_id"
    assert c.get("/v1/webhooks").status_code == 401
    assert c.get("/v1/webhooks", headers=world.channel).status_code == 403
    sub = world.subscribe()
    world.receiver.fail_next = 1
    change_stock(world.db, *receipts(1))
    world.dispatch()
    assert c.delete(f"/v1/webhooks/{sub['id']}", headers=world.admin).status_code == 204
    assert c.get(f"/v1/webhooks/{sub['id']}", headers=world.admin).status_code == 404
    assert c.get("/v1/webhooks", headers=world.admin).json()["total"] == 0


def test_lease_keeps_other_workers_out(world: World) -> None:
    sub = world.subscribe()
    seqs = change_stock(world.db, *receipts(2))
    now = utcnow()
    with world.db.write() as s:  # another worker holds the lease
        held = repo.acquire_lease(s, sub["id"], now, now + dt.timedelta(seconds=60))
    assert held is not None
    with world.db.write() as s:
        assert repo.acquire_lease(s, sub["id"], now, now + dt.timedelta(seconds=60)) is None
    assert world.dispatch() == 0 and world.receiver.requests == []
    with world.db.write() as s:  # its lease expires; a stale holder can no longer write
        s.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == sub["id"])
            .values(lease_until=now - dt.timedelta(seconds=1))
        )
    assert world.dispatch() == 2
    with world.db.write() as s:
        assert not repo.advance(s, held, seqs[-1] + 100, None)
    assert world.get(sub["id"])["cursor_seq"] == seqs[-1]
    assert world.receiver.delivered_seqs() == seqs


def test_timeout_is_a_failure(world: World) -> None:
    sub = world.subscribe()
    world.receiver.delay = 0.5
    change_stock(world.db, *receipts(1))
    policy = replace(webhook_policy(world.settings), read_timeout=0.1)
    client = safe_http.SafeClient(policy, "test")
    dispatcher = webhooks.Dispatcher(world.db, world.settings, client=client)
    try:
        assert dispatcher.dispatch_all() == 0
    finally:
        dispatcher.close()
    (attempt,) = world.deliveries(sub["id"])
    assert attempt["success"] is False and attempt["status_code"] is None
    assert attempt["error"] == "delivery failed"  # the reason is in the log only
    assert world.get(sub["id"])["attempts"] == 1


# only PostgreSQL can commit a later seq first (SQLite serialises writers)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_late_commit_is_waited_for_not_skipped(world: World) -> None:
    world.settings.feed_gap_timeout_seconds = 0.3
    world.subscribe()
    late = Session(world.db.write_engine)
    change = AvailabilityChange("CEL-1", "LJ-A", 1, 1, 0, 1, "receipt")
    record_events(late, [change])  # draws seq N, not committed yet
    after = change_stock(world.db, *receipts(1))  # N+1 commits first
    assert world.dispatch() == 0
    late.commit()
    late.close()
    assert world.dispatch() == 2
    (batch,) = world.receiver.accepted()
    assert batch.seqs == [after[0] - 1, after[0]]
    rolled_back = Session(world.db.write_engine)
    record_events(rolled_back, [change])
    after = change_stock(world.db, *receipts(1))
    rolled_back.rollback()
    rolled_back.close()
    assert world.dispatch() == 0  # the hole is young: wait for it
    time.sleep(0.35)
    assert world.dispatch() == 1  # then skip it as rolled back
    assert world.receiver.delivered_seqs()[-1] == after[0]


def test_verify_signature() -> None:
    body = b'{"events": []}'
    now = 1_800_000_000
    header = sign("s3cret", now, body)
    assert verify_signature("s3cret", header, body, now=now)
    assert verify_signature("s3cret", header, body.decode(), now=now + 299)
    assert not verify_signature("s3cret", header, body, now=now + 301)  # replayed too late
    assert not verify_signature("other", header, body, now=now)
    assert not verify_signature("s3cret", header, body + b" ", now=now)
    assert not verify_signature("s3cret", "garbage", body, now=now)
    assert not verify_signature("s3cret", f"t={now}", body, now=now)
    rotated = f"t={now},v1={'0' * 64},{header.split(',')[1]}"
    assert verify_signature("s3cret", rotated, body, now=now)


def test_backoff_is_jittered_exponential_and_capped() -> None:
    rng = random.Random(7)
    for failures in range(1, 15):
        cap = min(300.0, 2.0**failures)
        delays = [backoff_seconds(failures, rng) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(set(delays)) > 1
