"""Open endpoints as settings (/metrics, the API docs) and the trusted-proxies rule that every
per-address decision (client_address) and the console's Secure cookie follow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.clients import scope_client_address, trusted_networks
from sincro.config import Settings
from sincro.db import Database

LOCAL, REMOTE, PROXY = ("127.0.0.1", 40000), ("203.0.113.5", 40000), ("10.0.0.7", 40000)
DOCS = ("/docs", "/redoc", "/openapi.json")


@contextmanager
def client_from(settings: Settings, peer: tuple[str, int], **changes: Any) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=changes))
    with TestClient(app, client=peer) as client:
        yield client


def test_metrics_and_docs_are_public_by_default_in_the_embedded_mode(settings: Settings) -> None:
    with client_from(settings, REMOTE) as client:
        assert client.get("/metrics").status_code == 200
        assert [client.get(path).status_code for path in DOCS] == [200, 200, 200]
    assert settings.model_copy(update={"mode": "production"}).metrics_exposure == "loopback"


def test_loopback_serves_only_this_machine(settings: Settings) -> None:
    options = {"metrics_access": "loopback", "docs_access": "loopback"}
    with client_from(settings, REMOTE, **options) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert [client.get(path).status_code for path in DOCS] == [403, 403, 403]
    with client_from(settings, LOCAL, **options) as client:
        assert client.get("/metrics").status_code == 200
        assert [client.get(path).status_code for path in DOCS] == [200, 200, 200]


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(settings: Settings) -> None:
    spoofed = {"X-Forwarded-For": "127.0.0.1"}
    with client_from(settings, REMOTE, metrics_access="loopback") as client:
        assert client.get("/metrics", headers=spoofed).status_code == 403
    trusted = {"metrics_access": "loopback", "trusted_proxies": ["127.0.0.1"]}
    with client_from(settings, LOCAL, **trusted) as client:  # a local proxy for a remote client
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 403
        assert client.get("/metrics").status_code == 200


def test_key_mode_needs_any_valid_key(settings: Settings, db: Database) -> None:
    with db.write() as s:
        plaintext = access.create_key(s, "prometheus", Role.channel)[1]
    with client_from(settings, REMOTE, metrics_access="key", docs_access="key") as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": plaintext}).status_code == 200
        assert client.get("/openapi.json").status_code == 401


def _scope(peer: str, forwarded: str | None, proxies: tuple[str, ...]) -> dict[str, Any]:
    class App:
        class state:
            class sincro:
                class settings:
                    trusted_proxies = proxies

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1), "headers": headers, "app": App}


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("203.0.113.5", None, (), "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", (), "203.0.113.5"),  # not a proxy: header ignored
        ("10.0.0.7", "1.2.3.4", ("10.0.0.0/8",), "1.2.3.4"),
        ("10.0.0.7", "6.6.6.6, 1.2.3.4, 10.0.0.9", ("10.0.0.0/8",), "1.2.3.4"),  # a chain
        ("10.0.0.7", None, ("10.0.0.0/8",), "10.0.0.7"),
        ("::1", "2001:db8::5", ("::1",), "2001:db8::5"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, proxies: Any, expected: str) -> None:
    assert scope_client_address(_scope(peer, forwarded, proxies)) == expected


def test_trusted_proxies_setting_is_parsed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINCRO_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    assert len(trusted_networks(("10.0.0.0/8", "127.0.0.1"))) == 2
    monkeypatch.setenv("SINCRO_TRUSTED_PROXIES", "not-an-address")
    with pytest.raises(ValueError):
        Settings()


def _console_cookie(client: TestClient, headers: dict[str, str]) -> str:
    page = client.get("/console/sign-in", headers=headers)  # the form's CSRF starts a session
    assert page.status_code == 200
    return page.headers["set-cookie"].lower()


def test_secure_cookie_follows_the_forwarded_proto_of_a_trusted_proxy_only(
    settings: Settings,
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    with client_from(settings, PROXY, trusted_proxies=["10.0.0.0/8"]) as client:
        assert "secure" in _console_cookie(client, https)
    with client_from(settings, REMOTE) as client:
        assert "secure" not in _console_cookie(client, https)
