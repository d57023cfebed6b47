"""Reading the audit log: GET /v1/audit (admin keys) and the console page "Auditoria"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.console.support import USER_EMAIL, USER_PASSWORD, sign_in

STORE_EMAIL, STORE_PASSWORD = "loja@example.com", "senha-da-loja-123"


@pytest.fixture
def keys(db: Database) -> dict[str, str]:
    with db.write() as s:
        _, admin = access.create_key(s, "ops", Role.admin)
        old, channel = access.create_key(s, "loja-virtual", Role.channel)
        access.create_user(s, USER_EMAIL, "Ana Gerente", USER_PASSWORD, Role.admin)
        access.create_user(s, STORE_EMAIL, "Equipe da Loja", STORE_PASSWORD, Role.store)
    with db.write() as s:
        access.revoke_key(s, old.prefix)
    with db.write() as s:
        _, channel = access.create_key(s, "canal", Role.channel)
    return {"admin": admin, "channel": channel}


@pytest.fixture
def client(settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_read_api_is_for_admin_keys(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers={"X-API-Key": keys["channel"]}).status_code == 403
    page = client.get("/v1/audit", headers={"X-API-Key": keys["admin"]}).json()
    assert page["total"] == 6 and page["offset"] == 0 and page["limit"] == 50
    actions = [item["action"] for item in page["items"]]
    assert actions == ["key.create", "key.revoke", "user.create", "user.create", "key.create",
                       "key.create"]  # fmt: skip
    user = next(item for item in page["items"] if item["action"] == "user.create")
    assert user["after"]["email"] != STORE_EMAIL  # masked
    assert user["actor_kind"] == "cli"


def test_filters_and_pages(client: TestClient, keys: dict[str, str]) -> None:
    def get(**params: str) -> dict:
        response = client.get("/v1/audit", params=params, headers={"X-API-Key": keys["admin"]})
        assert response.status_code == 200, response.text
        return response.json()

    assert get(action="key.")["total"] == 4
    assert get(action="key.revoke")["total"] == 1
    revoked = get(action="key.revoke")["items"][0]
    assert get(entity=f"api_key:{revoked['entity_id']}")["total"] == 2
    assert get(actor="cli")["total"] == 6 and get(actor="key")["total"] == 0
    assert get(since="2000-01-01T00:00:00", until="2001-01-01T00:00:00Z")["total"] == 0
    first, second = get(limit="1")["items"], get(limit="1", offset="1")["items"]
    assert first[0]["id"] > second[0]["id"]
    bad = client.get("/v1/audit", params={"actor": "robot"}, headers={"X-API-Key": keys["admin"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "actor"
    late = {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    bad = client.get("/v1/audit", params=late, headers={"X-API-Key": keys["admin"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "until"


def test_console_page_with_filters_local_times_and_csv(client: TestClient) -> None:
    assert sign_in(client).status_code == 303
    page = client.get("/console/audit")
    assert page.status_code == 200
    assert "Auditoria" in page.text and "Chave revogada" in page.text
    assert 'href="/console/audit"' in page.text  # in the navigation
    filtered = client.get("/console/audit", params={"acao": "user.create"})
    assert "Usuário criado" in filtered.text and "Chave revogada" not in filtered.text
    bad = client.get("/console/audit", params={"de": "ontem"})
    assert "data inválida" in bad.text
    export = client.get("/console/audit.csv", params={"acao": "key."})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("quando;autor_tipo") and len(lines) == 5
    assert "/20" in lines[1].split(";")[0]  # dd/mm/aaaa HH:MM, local time


def test_console_page_is_for_admins_only(client: TestClient) -> None:
    assert sign_in(client, STORE_EMAIL, STORE_PASSWORD).status_code == 303
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit.csv").status_code == 403
    assert "Auditoria" not in client.get("/console").text
