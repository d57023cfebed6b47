"""``/v1/assistant/conversations`` on both databases: start, talk, read the transcript, the
invoice copy after verification only, a reservation's customer end to end (POST
/v1/reservations with ``customer_id`` → the bot's order status), and clear 404/409/422s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.service import Role
from sincro.app import create_app
from sincro.assistant.models import Conversation
from sincro.config import Settings
from sincro.db import Database
from tests.assistant import world
from tests.factories import make_key


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[tuple[TestClient, dict[str, object]]]:
    ids = world.seed(db)
    with db.write() as s:
        keys = {"channel": make_key(s, Role.channel), "other": make_key(s, Role.channel),
                "store": make_key(s, Role.store, ("LJ-NIT-C",)), "admin": make_key(s)}  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c, {**ids, **keys}


def _h(key: object) -> dict[str, str]:
    return {"X-API-Key": str(key)}


def test_a_conversation_end_to_end_with_an_order_made_for_the_customer(
    client: tuple[TestClient, dict[str, object]], db: Database
) -> None:
    c, ids = client
    key = _h(ids["channel"])
    made = c.post(
        "/v1/reservations",
        json={"lines": [{"sku": world.IPHONE, "qty": 1, "location": "LJ-CPS-C"}],
              "order_reference": "PED-2026-000901", "customer_id": ids["customer"]},
        headers=key,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["customer_id"] == ids["customer"]
    started = c.post("/v1/assistant/conversations", json={"channel": "app"}, headers=key)
    assert started.status_code == 201, started.text
    conv = started.json()
    assert conv["state"] == "bot" and len(conv["token"]) > 20
    url = f"/v1/assistant/conversations/{conv['id']}"

    def say(text: str) -> dict[str, object]:
        r = c.post(f"{url}/messages", json={"text": text}, headers=key)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    asked = say("cade meu pedido PED-2026-000901?")
    assert asked["intent"] == "status_pedido" and asked["actions"][0]["type"] == "ask_identity"
    say(world.CPF)
    pdf = c.get(f"{url}/invoices/1.pdf", headers=key)
    assert pdf.status_code == 404  # nothing before verification
    status = say("12/03/1985")
    [order] = status["actions"][0]["data"]["orders"]  # type: ignore[index]
    assert (
        order["order_reference"] == "PED-2026-000901" and order["lines"][0]["sku"] == world.IPHONE
    )
    copy = say("me manda a 2 via da fatura")
    invoice = copy["actions"][0]["data"]  # type: ignore[index]
    got = c.get(invoice["pdf_url"], headers=key)
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    transcript = c.get(url, headers=key).json()
    assert transcript["verified"] is True and len(transcript["messages"]) == 8
    assert transcript["messages"][-1]["actions"][0]["type"] == "send_invoice"
    # another channel's key sees nothing of it; an admin key does
    for path in (url, f"{url}/invoices/{invoice['receivable_id']}.pdf"):
        assert c.get(path, headers=_h(ids["other"])).status_code == 404
    assert c.get(url, headers=_h(ids["admin"])).status_code == 200
    assert c.get(url, headers=_h(ids["store"])).status_code == 403
    doc = c.get("/v1/assistant/documents/1", headers=key)
    assert doc.status_code == 200 and "5000 mAh" in doc.json()["body"]


def test_clear_errors(client: tuple[TestClient, dict[str, object]], db: Database) -> None:
    c, ids = client
    key = _h(ids["channel"])
    base = "/v1/assistant/conversations"
    assert c.post(f"{base}/999/messages", json={"text": "oi"}, headers=key).status_code == 404
    unknown = c.post(base, json={"channel": "app", "customer_id": 999999}, headers=key)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "customer_id"
    bad = c.post(base, json={"channel": "App Store"}, headers=key)
    assert bad.status_code == 422
    conv = c.post(base, json={"channel": "app", "customer_id": ids["customer"]}, headers=key)
    cid = conv.json()["id"]
    for body in ({"text": "a\x00"}, {"text": "x" * 2001}, {"text": ""}, {}):
        r = c.post(f"{base}/{cid}/messages", json=body, headers=key)
        assert r.status_code == 422, body
    # a customer the channel verified gets their debts without the CPF
    debts = c.post(f"{base}/{cid}/messages", json={"text": "qual meu debito?"}, headers=key)
    assert debts.json()["actions"][0]["type"] == "show_debts"
    with db.write() as s:
        closed = s.get(Conversation, cid)
        assert closed is not None
        closed.state = "closed"
    again = c.post(f"{base}/{cid}/messages", json={"text": "oi"}, headers=key)
    assert again.status_code == 409 and "closed" in again.json()["error"]["message"]
