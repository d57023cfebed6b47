"""Bad input is a 4xx naming the field, never a 500 or a dropped connection, on SQLite and
PostgreSQL (NUL reaches PostgreSQL as an error, ids past 32 bits overflow its columns)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

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
        key = make_key(s, Role.admin)
    with db.write() as s:
        for _ in range(10):  # 9,999,990: ten units below the bound
            receive(s, "CEL-1", "CD01", 999_999)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, {"X-API-Key": key, "Idempotency-Key": "bad-input"}


def _error(response: object) -> dict:
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    return response.json()["error"]  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/products?q=%00", "q"),
        ("/v1/products?category=a%01b", "category"),
        ("/v1/reservations/a%00b", "reservation_id"),
        ("/v1/webhooks/4294967296", "sub_id"),
        ("/v1/webhooks/2147483648/deliveries", "sub_id"),
        ("/v1/sync/files/2147483648/rejects", "file_id"),
        ("/v1/events/stream?after=18446744073709551616", "after"),
    ],
)
def test_path_and_query_out_of_range(
    api: tuple[TestClient, dict[str, str]], path: str, field: str
) -> None:
    client, headers = api
    assert _error(client.get(path, headers=headers))["field"] == field


@pytest.mark.parametrize(
    "value", [b"18446744073709551616", b"9223372036854775808", "²".encode("latin-1"), b"-1"]
)
def test_last_event_id_is_checked_before_the_stream_starts(
    api: tuple[TestClient, dict[str, str]], value: bytes
) -> None:
    client, headers = api
    r = client.get("/v1/events/stream", headers={**headers, "Last-Event-ID": value})  # type: ignore[dict-item]
    assert _error(r)["field"] == "Last-Event-ID"


@pytest.mark.parametrize("qty", [True, "1", 1.0])
def test_quantities_are_strict_integers(
    api: tuple[TestClient, dict[str, str]], qty: object
) -> None:
    client, headers = api
    r = client.post(
        "/v1/reservations", json={"lines": [{"sku": "CEL-1", "qty": qty}]}, headers=headers
    )
    assert _error(r)["field"] == "lines[0].qty"
    movement = {"sku": "CEL-1", "location": "CD01", "quantity": qty, "reason": "receipt"}
    r = client.post("/v1/movements", json={"movements": [movement]}, headers=headers)
    assert _error(r)["field"] == "movements[0].quantity"


@pytest.mark.parametrize("bad", ["A\x00B", "line\nbreak", "bell\x07", "del\x7f"])
def test_free_text_refuses_control_characters(
    api: tuple[TestClient, dict[str, str]], bad: str
) -> None:
    client, headers = api
    movement = {"sku": "CEL-1", "location": "CD01", "quantity": 1, "reason": "receipt"}
    r = client.post(
        "/v1/movements",
        json={"movements": [movement, {**movement, "reference": bad}]},
        headers=headers,
    )
    assert _error(r)["field"] == "movements[1].reference"
    line = {"sku": "CEL-1", "qty": 1}
    r = client.post(
        "/v1/reservations", json={"lines": [line], "order_reference": bad}, headers=headers
    )
    assert _error(r)["field"] == "order_reference"


def test_movements_cannot_push_a_level_past_the_count_bound(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    ok = {"sku": "CEL-1", "location": "CD01", "quantity": 10, "reason": "receipt"}
    over = {**ok, "quantity": 11}
    r = client.post("/v1/movements", json={"movements": [ok, over]}, headers=headers)
    error = _error(r)
    assert (error["code"], error["field"]) == ("level_limit_exceeded", "movements[1].quantity")
    r = client.get("/v1/stock/CD01/CEL-1", headers=headers)
    assert r.json()["on_hand"] == 9_999_990  # all or none
    r = client.post("/v1/movements", json={"movements": [ok]}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["levels"][0]["on_hand"] == 10_000_000


def test_malformed_json_reports_line_and_column(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    body = b'{\n  "movements": [\n    {"sku": "CEL-1",, "qty": 1}\n  ]\n}'
    r = client.post(
        "/v1/movements", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    error = _error(r)
    assert error["field"] == "body"
    assert (error["details"][0]["line"], error["details"][0]["column"]) == (3, 21)
    assert "line 3, column 21" in error["message"]


def test_nested_fields_use_brackets(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    movement = {"sku": "CEL-1", "location": "CD01", "quantity": 1, "reason": "receipt"}
    r = client.post(
        "/v1/movements",
        json={"movements": [movement, {**movement, "reason": "nope"}]},
        headers=headers,
    )
    assert _error(r)["field"] == "movements[1].reason"
    r = client.post("/v1/availability/query", json={"skus": ["CEL-1", "bad sku"]}, headers=headers)
    assert _error(r)["field"] == "skus[1]"


def test_undecodable_body_is_a_422_on_body(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    r = client.put(
        "/v1/products/X-1",
        content=b"+p\xffjo\xfe",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert _error(r)["field"] == "body"


def test_catalog_text_refuses_control_characters(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    product = {"sku": "X-1", "name": "Nul\x00", "category": "cel"}
    assert _error(client.put("/v1/products/X-1", json=product, headers=headers))["field"] == "name"
    location = {
        "code": "LJ9",
        "kind": "store",
        "name": "Loja",
        "city": "S\x00o Paulo",
        "state": "SP",
        "latitude": -23.5,
        "longitude": -46.6,
    }
    r = client.put("/v1/locations/LJ9", json=location, headers=headers)
    assert _error(r)["field"] == "city"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+03:00", "9999-12-31T23:59:59-03:00"])
def test_business_times_stay_in_the_calendar(
    api: tuple[TestClient, dict[str, str]], when: str
) -> None:
    client, headers = api
    movement = {
        "sku": "CEL-1",
        "location": "CD01",
        "quantity": 1,
        "reason": "receipt",
        "occurred_at": when,
    }
    r = client.post("/v1/movements", json={"movements": [movement]}, headers=headers)
    assert _error(r)["field"] == "movements[0].occurred_at"
