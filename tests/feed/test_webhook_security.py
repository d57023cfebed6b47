"""Webhook hardening end to end (SQLite and PostgreSQL): hostile URLs refused at subscription,
re-checked at delivery, secrets never stored or shown again, rotation with an overlap,
short scrubbed delivery logs, and every change audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from sincro import safe_http
from sincro.audit import AuditFilter, read
from sincro.db import utcnow
from sincro.feed import repository as repo
from sincro.feed.models import WebhookSubscription
from sincro.feed.webhooks import verify_signature
from tests.feed import test_webhooks
from tests.feed.conftest import change_stock
from tests.feed.test_webhooks import World, receipts

world = test_webhooks.world  # the fixture: an app, an admin key and a real local receiver

HOSTILE = [
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://017700000001/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/hook",
    "http://10.0.0.5/hook",
    "http://192.168.0.1/hook",
    "http://224.0.0.1/hook",
    "https://admin:hunter2@93.184.215.14/hook",
    "gopher://93.184.215.14/",
]


def post(world: World, url: str, **extra: Any) -> Any:
    return world.client.post("/v1/webhooks", json={"url": url, **extra}, headers=world.admin)


def resolve_to(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: [address])


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused_at_subscription(world: World, url: str) -> None:
    world.settings.feed_webhook_allowed_hosts = []  # nothing internal is allowed
    r = post(world, url)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "url"
    assert "hunter2" not in r.text
    assert world.client.get("/v1/webhooks", headers=world.admin).json()["total"] == 0


def test_production_requires_https(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_to(monkeypatch, "93.184.215.14")
    world.settings.feed_webhook_allow_http = False
    r = post(world, "http://hooks.example.test/in")
    assert r.status_code == 422 and r.json()["error"]["field"] == "url"
    assert post(world, "https://hooks.example.test/in").status_code == 201


def test_a_name_that_turns_loopback_is_refused_at_delivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.settings.feed_webhook_allowed_hosts = []
    resolve_to(monkeypatch, "93.184.215.14")
    url = f"http://hooks.example.test:{world.receiver.port}/hook"
    created = post(world, url)
    assert created.status_code == 201, created.text
    resolve_to(monkeypatch, "127.0.0.1")  # the name is re-pointed after the check
    change_stock(world.db, *receipts(2))
    assert world.dispatch() == 0
    assert world.receiver.requests == []
    (attempt,) = world.deliveries(created.json()["id"])
    assert (attempt["success"], attempt["status_code"], attempt["error"]) == (
        False,
        None,
        "delivery failed",
    )


def test_delivery_connects_to_the_checked_address_keeping_the_name(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.settings.feed_webhook_allowed_hosts = ["hooks.internal.test"]
    resolve_to(monkeypatch, "127.0.0.1")
    url = f"http://hooks.internal.test:{world.receiver.port}/hook"
    created = post(world, url).json()
    world.receiver.secrets["/hook"] = created["secret"]
    seqs = change_stock(world.db, *receipts(2))
    assert world.dispatch() == 2
    (request,) = world.receiver.accepted()
    assert request.headers["Host"] == f"hooks.internal.test:{world.receiver.port}"
    assert request.seqs == seqs


def test_redirects_are_failures_not_followed(world: World) -> None:
    sub = world.subscribe()
    world.receiver.answer = (302, {"Location": world.receiver.url("/elsewhere")}, b"")
    change_stock(world.db, *receipts(1))
    assert world.dispatch() == 0
    assert [r.path for r in world.receiver.requests] == ["/hook"]
    (attempt,) = world.deliveries(sub["id"])
    assert attempt["status_code"] == 302 and attempt["success"] is False


def test_delivery_log_is_short_and_scrubbed(world: World) -> None:
    sub = world.subscribe()
    leak = b"session=abcdef123 cpf 123.456.789-09 Bearer eyJhbGciOiJIUzI1NiJ9 " + b"y" * 9000
    world.receiver.answer = (500, {"Content-Type": "text/plain"}, leak)
    change_stock(world.db, *receipts(1))
    world.dispatch()
    (attempt,) = world.deliveries(sub["id"])
    assert attempt["error"].startswith("HTTP 500: ") and len(attempt["error"]) <= 200
    for secret in ("abcdef123", "123.456.789-09", "eyJhbGci"):
        assert secret not in attempt["error"]


def test_credentials_never_stored_or_listed(world: World) -> None:
    r = post(world, f"http://user:hunter2@127.0.0.1:{world.receiver.port}/hook")
    assert r.status_code == 422 and "hunter2" not in r.text
    world.subscribe()
    listed = world.client.get("/v1/webhooks", headers=world.admin)
    assert listed.json()["total"] == 1 and "hunter2" not in listed.text
    assert all("hunter2" not in str(e) for e in audited(world))


def test_secret_is_not_stored_nor_readable_back(world: World) -> None:
    created = world.subscribe()
    secret = created["secret"]
    with world.db.read() as s:
        row = s.scalar(select(WebhookSubscription).where(WebhookSubscription.id == created["id"]))
        assert row is not None
        stored = [str(getattr(row, c.key)) for c in WebhookSubscription.__table__.columns]
    assert all(secret not in value for value in stored)
    assert secret not in world.client.get(f"/v1/webhooks/{created['id']}", headers=world.admin).text
    entries = audited(world)
    assert entries and all(secret not in str(entry) for entry in entries)


def test_rotation_signs_with_both_secrets_during_the_overlap(world: World) -> None:
    sub = world.subscribe()
    old = sub["secret"]
    r = world.client.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=world.admin)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old and new.startswith("whsec_")
    until = dt.datetime.fromisoformat(r.json()["previous_secret_until"])
    assert dt.timedelta(hours=23) < until - utcnow() <= dt.timedelta(hours=24)
    assert "secret" not in world.get(sub["id"])
    world.receiver.secrets["/hook"] = new
    change_stock(world.db, *receipts(1))
    assert world.dispatch() == 1
    (during,) = world.receiver.accepted()
    header = during.headers["Sincro-Signature"]
    assert header.count("v1=") == 2
    assert verify_signature(new, header, during.body) and verify_signature(old, header, during.body)
    assert header.split(",")[1] != header.split(",")[2]  # new first, then old
    end_overlap(world, sub["id"])
    change_stock(world.db, *receipts(1))
    assert world.dispatch() == 1
    after = world.receiver.accepted()[-1]
    header = after.headers["Sincro-Signature"]
    assert header.count("v1=") == 1 and verify_signature(new, header, after.body)
    assert not verify_signature(old, header, after.body)
    with world.db.write() as s:
        assert repo.forget_expired_secrets(s, utcnow()) == 1
    assert world.get(sub["id"])["previous_secret_until"] is None
    actions = [e["action"] for e in audited(world)]
    assert actions[0] == "webhook.rotate_secret"


def test_a_legacy_plaintext_secret_serves_until_its_rotation_ends(world: World) -> None:
    sub = world.subscribe()
    with world.db.write() as s:  # as migration 0012 leaves a subscription made before it
        s.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == sub["id"])
            .values(secret_salt=None, legacy_secret="whsec_legacy")
        )
    world.receiver.secrets["/hook"] = "whsec_legacy"
    change_stock(world.db, *receipts(1))
    assert world.dispatch() == 1
    new = world.client.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=world.admin)
    change_stock(world.db, *receipts(1))
    assert world.dispatch() == 1
    latest = world.receiver.accepted()[-1]
    header, body = latest.headers["Sincro-Signature"], latest.body
    assert verify_signature(new.json()["secret"], header, body)
    assert verify_signature("whsec_legacy", header, body)
    end_overlap(world, sub["id"])
    with world.db.write() as s:
        repo.forget_expired_secrets(s, utcnow())
    with world.db.read() as s:
        row = s.get(WebhookSubscription, sub["id"])
        assert row is not None and row.legacy_secret is None


def end_overlap(world: World, sub_id: int) -> None:
    with world.db.write() as s:
        s.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == sub_id)
            .values(previous_secret_until=utcnow() - dt.timedelta(seconds=1))
        )


def audited(world: World) -> list[dict[str, Any]]:
    with world.db.read() as s:
        entries, _ = read(s, AuditFilter(entity_type="webhook_subscription"))
        return [{"action": e.action, "before": e.before, "after": e.after} for e in entries]


def test_rotation_is_audited_and_404_for_unknown(world: World) -> None:
    sub = world.subscribe()
    r = world.client.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=world.admin)
    (rotation,) = [e for e in audited(world) if e["action"] == "webhook.rotate_secret"]
    assert rotation["before"]["previous_secret_until"] is None
    assert rotation["after"]["previous_secret_until"] is not None
    assert r.json()["secret"] not in str(rotation)
    missing = world.client.post("/v1/webhooks/999999/rotate-secret", headers=world.admin)
    assert missing.status_code == 404
    assert world.client.post(f"/v1/webhooks/{sub['id']}/rotate-secret").status_code == 401
    forbidden = world.client.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=world.channel)
    assert forbidden.status_code == 403
