"""Helpers of the widget and channel tests: a site key, a client, a conversation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from sincro.assistant.widget import sitekeys
from sincro.db import Database

SHOP = "https://loja.example"
OTHER = "https://outra.example"


def site_key(db: Database, *origins: str, rate: int | None = None) -> str:
    with db.write() as s:
        key = sitekeys.create(
            s, "test", list(origins or (SHOP,)), allow_http=True, rate_limit_per_minute=rate
        )
        return key.public_key


def open_chat(client: TestClient, key: str, origin: str = SHOP) -> dict[str, Any]:
    r = client.post(
        "/v1/assistant/public/conversations", headers={"X-Site-Key": key, "Origin": origin}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def say(
    client: TestClient, chat: dict[str, Any], text: str, origin: str = SHOP, token: str = ""
) -> Any:
    return client.post(
        f"/v1/assistant/public/conversations/{chat['id']}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {token or chat['token']}", "Origin": origin},
    )
