"""The widget's public endpoints: a site key bound to its origins opens conversations and can
do nothing else; the conversation token is the only way in; per-address limits, size caps,
CORS for exactly the key's origins; the admin API and CLI for site keys."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from sincro import audit
from sincro.access.service import Role
from sincro.app import create_app
from sincro.assistant import agents, conversations, live, queue
from sincro.assistant.models import Conversation
from sincro.assistant.widget import sitekeys
from sincro.assistant.widget.models import SiteKey
from sincro.config import Settings, reset_settings
from sincro.db import Database
from tests.assistant.people import make_agent, open_hours
from tests.assistant.widget_support import OTHER, SHOP, open_chat, say, site_key
from tests.factories import make_key

PUBLIC = "/v1/assistant/public/conversations"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    sitekeys.forget()
    with TestClient(create_app(settings)) as c:
        yield c
    sitekeys.forget()


def limited(settings: Settings, peer: str = "192.0.2.1", **changes: object) -> TestClient:
    """A client from its own address (``peer``) on an app with changed settings."""
    sitekeys.forget()
    return TestClient(create_app(settings.model_copy(update=changes)), client=(peer, 50000))


def test_a_widget_conversation_from_its_origin(client: TestClient, db: Database) -> None:
    key = site_key(db)
    chat = open_chat(client, key)
    assert set(chat) == {"id", "token"} and len(chat["token"]) >= 32
    r = say(client, chat, "oi")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    reply = r.json()
    assert set(reply) == {"reply", "intent", "confidence", "state", "actions", "seq", "last_seq"}
    assert reply["reply"] and reply["state"] == "bot" and reply["seq"] == 1
    assert reply["last_seq"] >= 2
    auth = {"Authorization": f"Bearer {chat['token']}", "Origin": SHOP}
    r = client.get(f"{PUBLIC}/{chat['id']}/messages?after=0", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "bot"
    assert [(m["seq"], m["sender"]) for m in body["messages"]][:2] == [(1, "customer"), (2, "bot")]
    assert body["messages"][0]["text"] == "oi"
    assert set(body["messages"][1]) == {"seq", "sender", "text", "actions", "at"}
    r = client.get(f"{PUBLIC}/{chat['id']}/messages?after={reply['last_seq']}", headers=auth)
    assert r.json()["messages"] == []
    with db.read() as s:
        conversation = s.get(Conversation, chat["id"])
        assert conversation is not None and conversation.channel == "web"
        assert conversation.token_hash == conversations.token_hash(chat["token"])


@pytest.mark.one_database
def test_origin_is_checked_strictly(client: TestClient, db: Database) -> None:
    key = site_key(db, SHOP, "http://127.0.0.1:8000")
    for origin in (None, OTHER, "null", "HTTPS://LOJA.EXAMPLE", f"{SHOP}:443", f"{SHOP}/"):
        headers = {"X-Site-Key": key} | ({"Origin": origin} if origin else {})
        r = client.post(PUBLIC, headers=headers)
        assert r.status_code == 403, (origin, r.text)
        assert r.json()["error"]["field"] == "Origin"
        assert "access-control-allow-origin" not in r.headers
    assert open_chat(client, key, "http://127.0.0.1:8000")["id"]
    chat = open_chat(client, key)
    r = say(client, chat, "oi", origin=OTHER)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    # preflight: exactly the origins of active keys
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-site-key"}
    r = client.options(PUBLIC, headers={**ask, "Origin": SHOP})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "X-Site-Key" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    r = client.options(f"{PUBLIC}/{chat['id']}/messages", headers={**ask, "Origin": OTHER})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    # an unknown or revoked key
    r = client.post(PUBLIC, headers={"X-Site-Key": "pk_nope", "Origin": SHOP})
    assert r.status_code == 401 and r.json()["error"]["field"] == "X-Site-Key"
    assert client.post(PUBLIC, headers={"Origin": SHOP}).status_code == 401
    with db.write() as s:
        key_id = s.scalar(select(SiteKey.id).where(SiteKey.public_key == key))
        assert key_id is not None
        sitekeys.revoke(s, key_id)
    assert client.post(PUBLIC, headers={"X-Site-Key": key, "Origin": SHOP}).status_code == 401
    assert say(client, chat, "oi").status_code == 404  # its conversations end with it
    assert client.options(PUBLIC, headers={**ask, "Origin": SHOP}).status_code == 403


@pytest.mark.one_database
def test_a_site_key_or_a_conversation_token_opens_no_other_route(
    client: TestClient, db: Database
) -> None:
    key = site_key(db)
    chat = open_chat(client, key)
    routes = [
        ("POST", "/v1/assistant/parse", {"text": "oi"}),
        ("GET", "/v1/assistant/site-keys", None),
        ("POST", "/v1/assistant/site-keys", {"name": "x", "origins": [SHOP]}),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/availability/CEL-000001", None),
        ("POST", "/v1/reservations", {"lines": [{"sku": "CEL-000001", "qty": 1}]}),
        ("GET", "/v1/customers", None),
    ]
    for secret in (key, chat["token"]):
        for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
            for method, path, body in routes:
                r = client.request(method, path, json=body, headers={**headers, "Origin": SHOP})
                assert r.status_code == 401, (method, path, r.text)


def test_forged_expired_and_foreign_tokens_are_one_404(client: TestClient, db: Database) -> None:
    key = site_key(db)
    first, second = open_chat(client, key), open_chat(client, key)
    with db.write() as s:
        api_chat, api_token = conversations.start(s, channel="api")
        api_id = api_chat.id
    unknown = {"id": second["id"] + 1000, "token": first["token"]}
    cases = [
        {"id": first["id"], "token": "x" * 32},  # forged
        {"id": first["id"], "token": second["token"]},  # another conversation's
        unknown,  # no such conversation
        {"id": api_id, "token": api_token},  # not a widget conversation
    ]
    bodies = set()
    for case in cases:
        r = say(client, case, "oi")
        assert r.status_code == 404, r.text
        bodies.add(r.text)
        r = client.get(
            f"{PUBLIC}/{case['id']}/messages", headers={"Authorization": f"Bearer {case['token']}"}
        )
        assert r.status_code == 404
        bodies.add(r.text)
    assert len(bodies) == 1  # nothing tells an existing id from a missing one
    r = client.post(f"{PUBLIC}/{first['id']}/messages", json={"text": "oi"})
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
    assert say(client, first, "oi").status_code == 200
    with db.write() as s:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        s.execute(
            update(Conversation)
            .where(Conversation.id == first["id"])
            .values(last_message_at=long_ago)
        )
    assert say(client, first, "oi de novo").status_code == 404  # idle past the setting


@pytest.mark.one_database
def test_rate_limits_per_address_and_proxies(settings: Settings, db: Database) -> None:
    key = site_key(db)
    with limited(
        settings,
        assistant_public_conversations_per_hour=2,
        assistant_public_messages_per_minute=3,
        trusted_proxies=["10.0.0.1"],
    ) as client:
        chat = open_chat(client, key)
        for _ in range(3):
            assert say(client, chat, "oi").status_code == 200
        r = say(client, chat, "oi")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.headers["access-control-allow-origin"] == SHOP  # the widget can read it
        open_chat(client, key)
        r = client.post(PUBLIC, headers={"X-Site-Key": key, "Origin": SHOP})
        assert r.status_code == 429
    with limited(settings, "192.0.2.2", assistant_public_conversations_per_hour=1) as untrusted:
        # X-Forwarded-For from an untrusted peer is ignored: still one address
        spoof = {"X-Site-Key": key, "Origin": SHOP}
        assert (
            untrusted.post(PUBLIC, headers={**spoof, "X-Forwarded-For": "1.1.1.1"}).status_code
            == 201
        )
        assert (
            untrusted.post(PUBLIC, headers={**spoof, "X-Forwarded-For": "2.2.2.2"}).status_code
            == 429
        )
    app = create_app(
        settings.model_copy(
            update={"assistant_public_conversations_per_hour": 1, "trusted_proxies": ["10.0.0.1"]}
        )
    )
    with TestClient(app, client=("10.0.0.1", 5000)) as proxied:
        spoof = {"X-Site-Key": key, "Origin": SHOP}
        assert (
            proxied.post(PUBLIC, headers={**spoof, "X-Forwarded-For": "3.3.3.3"}).status_code == 201
        )
        assert (
            proxied.post(PUBLIC, headers={**spoof, "X-Forwarded-For": "4.4.4.4"}).status_code == 201
        )
        assert (
            proxied.post(PUBLIC, headers={**spoof, "X-Forwarded-For": "4.4.4.4"}).status_code == 429
        )


@pytest.mark.one_database
def test_a_site_keys_own_budget(settings: Settings, db: Database) -> None:
    key = site_key(db, rate=2)
    with limited(settings) as client:
        chat = open_chat(client, key)
        assert say(client, chat, "oi").status_code == 200
        r = say(client, chat, "oi")
        assert r.status_code == 429 and "site key" in r.json()["error"]["message"]


@pytest.mark.one_database
def test_sizes_control_characters_and_caps(settings: Settings, db: Database) -> None:
    key = site_key(db)
    with limited(
        settings, assistant_public_max_text_chars=50, assistant_public_max_messages=4
    ) as client:
        chat = open_chat(client, key)
        r = say(client, chat, "a" * 51)
        assert r.status_code == 422 and r.json()["error"]["field"] == "text"
        for bad in ("oi\x00", "oi\x07tudo", "   "):
            r = say(client, chat, bad)
            assert r.status_code == 422 and r.json()["error"]["field"] == "text", bad
        r = client.post(
            f"{PUBLIC}/{chat['id']}/messages",
            json={"texto": "oi"},
            headers={"Authorization": f"Bearer {chat['token']}", "Origin": SHOP},
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "text"
        # a body past the cap: 413 in the error shape, not the API's 401 for a missing key
        r = client.post(
            f"{PUBLIC}/{chat['id']}/messages",
            content=b'{"text": "' + b"a" * 9000 + b'"}',
            headers={
                "Authorization": f"Bearer {chat['token']}",
                "Origin": SHOP,
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 413 and r.json()["error"]["field"] == "body"
        assert say(client, chat, "oi").status_code == 200
        assert say(client, chat, "tudo bem?").status_code == 200
        r = say(client, chat, "mais uma")
        assert r.status_code == 409  # the conversation holds its cap of messages


def test_long_poll_hears_a_persons_answer(client: TestClient, db: Database) -> None:
    chat = open_chat(client, site_key(db))
    assert say(client, chat, "oi").status_code == 200

    def agent_answers() -> None:
        time.sleep(0.4)
        with db.write() as s:
            conversation = conversations.get(s, chat["id"], for_update=True)
            conversations.append(s, conversation, "agent", "Olá, aqui é a Ana.", agent_user_id=None)
            live.announce(s, conversation)  # as every writer of a person's message does

    after = conversations_count(db, chat["id"])
    threading.Thread(target=agent_answers).start()
    started = time.monotonic()
    r = client.get(
        f"{PUBLIC}/{chat['id']}/messages?after={after}&wait=5",
        headers={"Authorization": f"Bearer {chat['token']}"},  # same origin: no Origin on GET
    )
    took = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert [(m["sender"], m["text"]) for m in r.json()["messages"]] == [
        ("agent", "Olá, aqui é a Ana.")
    ]
    assert 0.3 < took < 3
    r = client.get(
        f"{PUBLIC}/{chat['id']}/messages?after={after + 1}&wait=1",
        headers={"Authorization": f"Bearer {chat['token']}", "Origin": OTHER},
    )
    assert r.status_code == 403  # an Origin, when sent, must be the key's


def test_a_waiting_customer_hears_the_queue_move(settings: Settings, db: Database) -> None:
    # a safety-net poll far longer than the test waits: only the queue's move is fast enough
    settings = open_hours(settings, assistant_live_poll_seconds=20.0)
    sitekeys.forget()
    with TestClient(create_app(settings)) as client:
        key = site_key(db)
        first, second = open_chat(client, key), open_chat(client, key)
        with db.write() as s:
            for chat in (first, second):
                conversation = conversations.get(s, chat["id"], for_update=True)
                conversations.append(s, conversation, "customer", "quero falar com uma pessoa")
                queue.enqueue(s, conversation, "asked_for_person", settings)
        ana = make_agent(db, "Ana Lima")
        url = f"{PUBLIC}/{second['id']}/messages"
        auth = {"Authorization": f"Bearer {second['token']}"}
        shown = client.get(url, params={"wait": 5, "position": 0}, headers=auth).json()
        assert shown["state"] == "waiting_agent" and shown["messages"]  # answered at once
        assert (shown["position"], shown["estimated_wait_minutes"]) == (2, None)  # no waits yet
        after = shown["messages"][-1]["seq"]
        known = {"after": after, "position": 2, "estimate": 0}

        def agent_takes_the_first() -> None:
            time.sleep(0.4)
            with db.write() as s:
                agents.take(s, settings, first["id"], ana)

        worker = threading.Thread(target=agent_takes_the_first)
        worker.start()
        started = time.monotonic()
        moved = client.get(url, params={**known, "wait": 15}, headers=auth)
        took = time.monotonic() - started
        worker.join()
        assert moved.status_code == 200, moved.text
        assert took < 8, f"answered after {took:.1f} s: the queue's move did not wake the poll"
        body = moved.json()
        assert body["messages"] == [] and body["state"] == "waiting_agent"
        assert (body["position"], body["estimated_wait_minutes"]) == (1, 1)
        other = client.get(
            f"{PUBLIC}/{first['id']}/messages",
            params={"after": 0},
            headers={"Authorization": f"Bearer {first['token']}"},
        ).json()
        assert other["state"] == "agent" and other["position"] is None
    sitekeys.forget()


def conversations_count(db: Database, conversation_id: int) -> int:
    with db.read() as s:
        conversation = s.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation.messages_count


@pytest.mark.one_database
def test_admin_api_creates_lists_and_revokes_audited(client: TestClient, db: Database) -> None:
    with db.write() as s:
        admin, channel = make_key(s), make_key(s, Role.channel)
    r = client.post(
        "/v1/assistant/site-keys",
        json={"name": "Loja", "origins": ["https://Loja.Example:443/", "http://127.0.0.1:8000"]},
        headers={"X-API-Key": admin},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["origins"] == [SHOP, "http://127.0.0.1:8000"]
    assert created["public_key"].startswith("pk_") and created["active"]
    for origins, field in (
        ([], "origins"),
        (["ftp://loja.example"], "origins[0]"),
        ([SHOP, "https://user:pw@loja.example"], "origins[1]"),
        (["https://loja.example/path"], "origins[0]"),
        (["https://loja.example?x=1"], "origins[0]"),
    ):
        r = client.post(
            "/v1/assistant/site-keys",
            json={"name": "x", "origins": origins},
            headers={"X-API-Key": admin},
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (origins, r.text)
    r = client.get("/v1/assistant/site-keys", headers={"X-API-Key": channel})
    assert r.status_code == 403
    r = client.get("/v1/assistant/site-keys", headers={"X-API-Key": admin})
    assert [k["id"] for k in r.json()] == [created["id"]]
    r = client.post(f"/v1/assistant/site-keys/{created['id']}/revoke", headers={"X-API-Key": admin})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["revoked_at"]
    assert (
        client.post("/v1/assistant/site-keys/999/revoke", headers={"X-API-Key": admin}).status_code
        == 404
    )
    with db.read() as s:
        rows, _ = audit.read(s, audit.parse_filter(action="site_key."), 0, 10)
        assert [row.action for row in rows] == ["site_key.revoke", "site_key.create"]
        assert rows[1].after["origins"] == [SHOP, "http://127.0.0.1:8000"]


def test_http_origins_only_where_allowed(db: Database) -> None:
    with db.write() as s, pytest.raises(Exception) as refused:
        sitekeys.create(s, "x", ["http://loja.example"], allow_http=False)
    assert getattr(refused.value, "field", None) == "origins[0]"


@pytest.mark.one_database
def test_widget_files_and_the_demo_page(client: TestClient, db: Database) -> None:
    r = client.get("/assistant/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert "sessionStorage" in r.text and "aria-live" in r.text
    assert client.get("/assistant/widget.css").headers["content-type"].startswith("text/css")
    assert client.get("/assistant/nope.js").status_code == 404
    r = client.get("/assistant/demo")
    assert r.status_code == 200 and "Nenhuma chave de site" in r.text
    assert "sincro assistant site-key create --origin http://testserver" in r.text
    key = site_key(db, "http://testserver")
    r = client.get("/assistant/demo")
    assert f'data-site-key="{key}"' in r.text and "Loja exemplo" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


@pytest.mark.one_database
def test_cli_creates_lists_and_revokes(
    sqlite_url: str, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.assistant.cli import assistant_app

    monkeypatch.setenv("SINCRO_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    try:
        runner = CliRunner()
        r = runner.invoke(assistant_app, ["site-key", "create", "--origin", "https://loja.example"])
        assert r.exit_code == 0, r.output
        assert 'data-site-key="pk_' in r.output
        r = runner.invoke(assistant_app, ["site-key", "create", "--origin", "javascript:alert(1)"])
        assert r.exit_code == 2 and "origins[0]" in r.output
        r = runner.invoke(assistant_app, ["site-key", "list"])
        assert "https://loja.example" in r.output
        with db.read() as s:
            key_id = s.scalar(select(SiteKey.id))
        assert runner.invoke(assistant_app, ["site-key", "revoke", str(key_id)]).exit_code == 0
        with db.read() as s:
            assert s.scalar(select(SiteKey.active)) is False
    finally:
        reset_settings()


@pytest.mark.one_database
def test_the_demo_makes_one_site_key_for_its_own_origin(db: Database) -> None:
    from sincro.demo.setup import demo_site_key

    for _ in range(2):  # `sincro demo` runs again on the same database
        with db.write() as s:
            demo_site_key(s, 8123)
    with db.read() as s:
        keys = sitekeys.list_keys(s)
        assert [k.origins for k in keys] == [["http://127.0.0.1:8123", "http://localhost:8123"]]
        assert sitekeys.for_origin(s, "http://localhost:8123") is not None
