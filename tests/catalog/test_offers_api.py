"""Offers over HTTP on both databases: prices per product and period, telecom plans,
promotions, and the products' replenishment attributes; validation names the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro import audit
from sincro.access.models import Role
from sincro.app import create_app
from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.db import Database
from tests.factories import make_key, make_product

Api = tuple[TestClient, dict[str, str], dict[str, str]]


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[Api]:
    with db.write() as session:
        make_product(session, sku="CEL-000001")
        admin = make_key(session, Role.admin)
        channel = make_key(session, Role.channel)
    with TestClient(create_app(settings)) as client:
        yield client, {"X-API-Key": admin}, {"X-API-Key": channel}


def _field(response: Any) -> str:
    return str(response.json()["error"]["field"])


PLAN = {"code": "CTRL-25GB", "name": "Controle 25 GB", "kind": "controle", "monthly_price": "59.90",
        "data_gb": 25}  # fmt: skip


def test_plans_crud_and_validation(api: Api) -> None:
    client, admin, channel = api
    created = client.put("/v1/plans/CTRL-25GB", json=PLAN, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json() | {"source": "api"} == {**PLAN, "active": True, "source": "api"}
    changed = client.put("/v1/plans/CTRL-25GB", json={**PLAN, "monthly_price": 64.9}, headers=admin)
    assert changed.status_code == 200 and Decimal(changed.json()["monthly_price"]) == Decimal(
        "64.90"
    )
    fibra = {"code": "FIBRA-500", "name": "Fibra 500 Mega", "kind": "fibra", "monthly_price": 99}
    assert client.put("/v1/plans/FIBRA-500", json=fibra, headers=admin).status_code == 201
    listed = client.get("/v1/plans", params={"kind": "fibra"}, headers=channel).json()
    assert [p["code"] for p in listed["items"]] == ["FIBRA-500"] and listed["items"][0][
        "data_gb"
    ] is None
    assert client.get("/v1/plans/CTRL-25GB", headers=channel).json()["name"] == "Controle 25 GB"
    missing = client.get("/v1/plans/NOPE", headers=channel)
    assert missing.status_code == 404 and _field(missing) == "plan"
    for bad, field in (
        ({**PLAN, "kind": "satelite"}, "kind"),
        ({**PLAN, "monthly_price": -1}, "monthly_price"),
        ({**PLAN, "data_gb": -5}, "data_gb"),
        ({**PLAN, "name": "a\x00b"}, "name"),
        ({**PLAN, "code": "OUTRO"}, "code"),
        ({**PLAN, "extra": 1}, "extra"),
    ):
        refused = client.put("/v1/plans/CTRL-25GB", json=bad, headers=admin)
        assert refused.status_code == 422, (bad, refused.text)
        assert _field(refused) == field, refused.text
    assert client.put("/v1/plans/CTRL-25GB", json=PLAN, headers=channel).status_code == 403


def test_prices_by_period(api: Api, db: Database) -> None:
    client, admin, channel = api
    url = "/v1/products/CEL-000001/prices"
    january = {"valid_from": "2026-01-01", "valid_to": "2026-01-31", "list_price": "1299.90"}
    assert client.put(f"{url}/2026-01-01", json=january, headers=admin).status_code == 201
    sale = {"valid_from": "2026-01-20", "list_price": "1299.90", "sale_price": "1099.00"}
    assert client.put(f"{url}/2026-01-20", json=sale, headers=admin).status_code == 201
    on_25 = client.get("/v1/prices", params={"on": "2026-01-25"}, headers=channel).json()
    assert [p["valid_from"] for p in on_25["items"]] == ["2026-01-20", "2026-01-01"]
    with db.read() as session:
        current = catalog.current_prices(session, ["CEL-000001", "NOPE"], dt.date(2026, 1, 25))
        before = catalog.current_prices(session, ["CEL-000001"], dt.date(2025, 12, 31))
    assert list(current) == ["CEL-000001"] and current["CEL-000001"].effective == Decimal("1099.00")
    assert before == {}
    for path_day, body, status, field in (
        (
            "2026-02-01",
            {**january, "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
            422,
            "valid_to",
        ),
        (
            "2026-02-01",
            {"valid_from": "2026-02-01", "list_price": 10, "sale_price": 11},
            422,
            "sale_price",
        ),
        ("2026-02-01", {"valid_from": "2026-02-01", "list_price": "1.234"}, 422, "list_price"),
        (
            "2026-02-01",
            {"valid_from": "2026-02-01", "list_price": 1, "currency": "USD"},
            422,
            "currency",
        ),
        ("2026-02-02", {"valid_from": "2026-02-01", "list_price": 1}, 422, "valid_from"),
        ("0001-01-01", {"valid_from": "0001-01-01", "list_price": 1}, 422, "valid_from"),
    ):
        refused = client.put(f"{url}/{path_day}", json=body, headers=admin)
        assert refused.status_code == status and _field(refused) == field, refused.text
    unknown = client.put("/v1/products/NOPE-1/prices/2026-01-01", json={**january}, headers=admin)
    assert unknown.status_code == 404 and _field(unknown) == "sku"
    assert client.delete(f"{url}/2026-01-20", headers=admin).status_code == 204
    gone = client.delete(f"{url}/2026-01-20", headers=admin)
    assert gone.status_code == 404 and _field(gone) == "valid_from"
    with db.read() as session:  # every admin change is in the audit log, refusals are not
        entries, total = audit.read(
            session, audit.parse_filter("", "price.", "", None, None), 0, 10
        )
    assert total == 3
    assert [(e.action, e.entity_id, e.actor_kind) for e in entries] == [
        ("price.delete", "CEL-000001@2026-01-20", "key"),
        ("price.set", "CEL-000001@2026-01-20", "key"),
        ("price.set", "CEL-000001@2026-01-01", "key"),
    ]
    assert entries[0].before is not None and entries[0].before["sale_price"] == "1099.00"


def test_promotions(api: Api) -> None:
    client, admin, channel = api
    client.put("/v1/plans/CTRL-25GB", json=PLAN, headers=admin)
    on_plan = {"code": "BF-CTRL", "name": "Black Friday Controle", "plan": "CTRL-25GB",
               "discount_percent": "20", "valid_from": "2026-11-20", "valid_to": "2026-11-30",
               "channel": "online"}  # fmt: skip
    created = client.put("/v1/promotions/BF-CTRL", json=on_plan, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["plan"] == "CTRL-25GB" and created.json()["sku"] is None
    on_product = {"code": "CEL-10", "name": "Celular R$ 999", "sku": "CEL-000001",
                  "promo_price": "999.00", "valid_from": "2026-11-01"}  # fmt: skip
    assert client.put("/v1/promotions/CEL-10", json=on_product, headers=admin).status_code == 201
    active = client.get("/v1/promotions", params={"active_on": "2026-11-25"}, headers=channel)
    assert [p["code"] for p in active.json()["items"]] == ["BF-CTRL", "CEL-10"]
    later = client.get("/v1/promotions", params={"active_on": "2026-12-05"}, headers=channel)
    assert [p["code"] for p in later.json()["items"]] == ["CEL-10"]
    by_sku = client.get("/v1/promotions", params={"sku": "CEL-000001"}, headers=channel).json()
    assert [p["code"] for p in by_sku["items"]] == ["CEL-10"]
    for bad, field in (
        ({**on_plan, "sku": "CEL-000001"}, "plan"),
        ({**on_plan, "plan": None}, "plan"),
        ({**on_plan, "promo_price": "10.00"}, "promo_price"),
        ({**on_plan, "discount_percent": None}, "promo_price"),
        ({**on_plan, "discount_percent": "120"}, "discount_percent"),
        ({**on_plan, "plan": "NOPE"}, "plan"),
        ({**on_plan, "plan": None, "sku": "NOPE-1"}, "sku"),
        ({**on_plan, "valid_to": "2026-01-01"}, "valid_to"),
        ({**on_plan, "channel": "radio"}, "channel"),
    ):
        refused = client.put("/v1/promotions/BF-CTRL", json=bad, headers=admin)
        assert refused.status_code == 422, (bad, refused.text)
        assert _field(refused) == field, refused.text
    assert (
        client.get("/v1/promotions/BF-CTRL", headers=channel).json()["discount_percent"] == "20.00"
    )
    assert client.delete("/v1/promotions/BF-CTRL", headers=channel).status_code == 403
    assert client.delete("/v1/promotions/BF-CTRL", headers=admin).status_code == 204
    assert client.get("/v1/promotions/BF-CTRL", headers=channel).status_code == 404


def test_product_attributes_kept_when_not_given(api: Api) -> None:
    client, admin, channel = api
    body = {"sku": "CEL-000001", "name": "Celular", "category": "smartphones",
            "lead_time_days": 12, "pack_size": 10, "supplier_code": "F00042"}  # fmt: skip
    assert client.put("/v1/products/CEL-000001", json=body, headers=admin).status_code == 200
    plain = {
        k: v for k, v in body.items() if k not in ("lead_time_days", "pack_size", "supplier_code")
    }
    assert (
        client.put(
            "/v1/products/CEL-000001", json={**plain, "name": "Celular X"}, headers=admin
        ).status_code
        == 200
    )
    got = client.get("/v1/products/CEL-000001", headers=channel).json()
    assert (got["name"], got["lead_time_days"], got["pack_size"], got["supplier_code"]) == (
        "Celular X", 12, 10, "F00042")  # fmt: skip
    cleared = client.put("/v1/products/CEL-000001", json={**body, "pack_size": None}, headers=admin)
    assert cleared.json()["pack_size"] is None and cleared.json()["lead_time_days"] == 12
    refused = client.put("/v1/products/CEL-000001", json={**body, "pack_size": 0}, headers=admin)
    assert refused.status_code == 422 and _field(refused) == "pack_size"
