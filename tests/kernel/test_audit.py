"""The audit log: entries in the caller's transaction, masked personal data, filtered reads,
and the entries written by counts, keys, users and webhook changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro import audit, safe_http
from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.audit import Actor, ActorKind, AuditFilter, Entity
from sincro.config import Settings
from sincro.db import Database, utcnow
from tests.factories import make_key, make_location, make_product, receive


def entries(db: Database, **filters: Any) -> list[dict[str, Any]]:
    """Every matching entry, newest first, as plain dicts."""
    with db.read() as session:
        rows, _ = audit.read(session, AuditFilter(**filters), 0, 500)
        return [
            {
                "actor": (r.actor_kind, r.actor_id, r.actor_label),
                "action": r.action,
                "entity": (r.entity_type, r.entity_id),
                "before": r.before,
                "after": r.after,
                "client": r.client,
                "request_id": r.request_id,
            }
            for r in rows
        ]


def test_personal_data_never_stored_in_clear() -> None:
    masked = audit.mask_personal(
        {
            "email": "ana.souza@loja.com.br",
            "CPF": "123.456.789-09",
            "cnpj": "12345678000195",
            "document": None,
            "note": "cliente ana@x.com.br, CPF 12345678909, tel (11) 91234-5678",
            "lines": [{"phone": "11987654321"}, 3],
            "qty": 7,
        }
    )
    assert masked == {
        "email": "an*****************br",
        "CPF": "12**********09",
        "cnpj": "12**********95",
        "document": None,
        "note": "cliente an********br, CPF 12*******09, tel (1***********78",
        "lines": [{"phone": "11*******21"}, 3],
        "qty": 7,
    }


def test_record_belongs_to_the_callers_transaction(db: Database) -> None:
    actor = Actor.system("test")
    with pytest.raises(RuntimeError), db.write() as session:
        audit.record(session, actor, "thing.make", Entity("thing", 1), None, {"n": 1})
        raise RuntimeError("the change fails")
    assert entries(db) == []
    with db.write() as session:
        audit.record(
            session, actor, "thing.make", Entity("thing", 1), None, {"email": "zé@loja.com"}
        )
    [entry] = entries(db)
    assert entry["after"] == {"email": "zé*******om"}
    assert entry["actor"] == ("system", None, "test") and entry["entity"] == ("thing", "1")


def test_read_filters_and_pages_newest_first(db: Database) -> None:
    ana, bot = Actor.user(7, "Ana"), Actor.key(3, "erp-bot")
    with db.write() as session:
        for n, (actor, action) in enumerate(
            [
                (ana, "webhook.create"),
                (bot, "stock.count"),
                (ana, "webhook.delete"),
                (bot, "webhook_x.odd"),
                (Actor.cli("root"), "key.create"),
            ]
        ):
            audit.record(session, actor, action, Entity("e", n), None, {"n": n})
    with db.read() as session:
        rows, total = audit.read(session, offset=1, limit=2)
        assert total == 5 and [r.after["n"] for r in rows] == [3, 2]
        rows, total = audit.read(session, AuditFilter(action="webhook."))
        assert total == 2 and [r.action for r in rows] == ["webhook.delete", "webhook.create"]
        rows, total = audit.read(session, AuditFilter(actor_kind=ActorKind.key, actor_id="3"))
        assert [r.action for r in rows] == ["webhook_x.odd", "stock.count"]
        rows, total = audit.read(session, AuditFilter(entity_type="e", entity_id="4"))
        assert [(r.actor_kind, r.actor_label) for r in rows] == [("cli", "root")]
        future = utcnow() + dt.timedelta(minutes=1)
        assert audit.read(session, AuditFilter(since=future))[1] == 0
        assert audit.read(session, AuditFilter(until=future))[1] == 5


def test_access_changes_are_audited_without_secrets(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="LJ1")
        key, plaintext = access.create_key(s, "loja-1", Role.store, ["LJ1"])
        access.create_user(s, "Caixa@Loja.com.br", "Caixa", "senha-forte-1")
        access.revoke_key(s, key.prefix, actor=Actor.user(1, "Ana"))
    revoke, user, create = entries(db)
    assert create["actor"][0] == "cli" and create["action"] == "key.create"
    assert create["entity"] == ("api_key", str(key.id))
    assert create["after"] == {
        "name": "loja-1", "prefix": key.prefix, "role": "store", "rate_limit_per_minute": None,
        "active": True, "locations": ["LJ1"],
    }  # fmt: skip
    assert plaintext.split("_", 2)[2] not in str(create) and "hash" not in str(create)
    assert user["action"] == "user.create"
    assert user["after"] == {
        "email": "ca*************br", "name": "Caixa", "role": "admin", "active": True
    }  # fmt: skip
    assert revoke["actor"] == ("user", "1", "Ana") and revoke["action"] == "key.revoke"
    assert (revoke["before"]["active"], revoke["after"]["active"]) == (True, False)


@dataclass
class Api:
    client: TestClient
    db: Database
    admin: dict[str, str]
    store: dict[str, str]


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[Api]:
    with db.write() as s:
        make_location(s, code="LJ1")
        make_product(s, sku="CEL-1")
        admin = make_key(s, Role.admin)
        store = make_key(s, Role.store, ("LJ1",))
        receive(s, "CEL-1", "LJ1", 5)
    with TestClient(create_app(settings)) as client:
        yield Api(client, db, {"X-API-Key": admin}, {"X-API-Key": store})


def test_a_stock_count_is_audited_with_the_key_and_the_request(api: Api) -> None:
    level = api.client.get("/v1/stock/LJ1/CEL-1", headers=api.store).json()
    headers = {**api.store, "If-Match": f'"{level["version"]}"', "X-Request-ID": "req-42"}
    r = api.client.put("/v1/stock/LJ1/CEL-1", json={"on_hand": 3}, headers=headers)
    assert r.status_code == 200, r.text
    stale = api.client.put("/v1/stock/LJ1/CEL-1", json={"on_hand": 1}, headers=headers)
    assert stale.status_code == 409  # rolled back: no entry
    [count] = entries(api.db, action="stock.count")
    assert count["actor"][0] == "key" and count["actor"][2].startswith("test-store-")
    assert (count["client"], count["request_id"]) == ("testclient", "req-42")
    assert count["entity"] == ("stock_level", "LJ1/CEL-1")
    assert count["before"] == {"on_hand": 5, "safety_stock": 0, "version": level["version"]}
    assert count["after"] == {
        "on_hand": 3, "safety_stock": 0, "version": level["version"] + 1,
        "reason": "count",
    }  # fmt: skip


def test_webhook_changes_are_audited_without_the_secret(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sandbox has no DNS: the name resolves to a public address through safe_http's seam
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["93.184.215.14"])
    created = api.client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/in"}, headers=api.admin
    ).json()
    sub = created["id"]
    assert api.client.post(f"/v1/webhooks/{sub}/resume", headers=api.admin).status_code == 200
    assert api.client.delete(f"/v1/webhooks/{sub}", headers=api.admin).status_code == 204
    assert api.client.delete(f"/v1/webhooks/{sub}", headers=api.admin).status_code == 404
    delete, resume, create = entries(api.db, entity_type="webhook_subscription")
    assert [e["action"] for e in (create, resume, delete)] == [
        "webhook.create", "webhook.resume", "webhook.delete"
    ]  # fmt: skip
    assert all(e["entity"] == ("webhook_subscription", str(sub)) for e in (create, delete))
    assert create["after"]["url"] == "https://hooks.example.com/in"
    assert created["secret"] not in str(entries(api.db))
    assert delete["before"]["url"] == create["after"]["url"] and delete["after"] is None
