"""The reports API: JSON, the machine CSV, roles, and clear 4xx for bad parameters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.factories import make_key
from tests.reports.data import seed


@pytest.fixture
def keys(db: Database) -> dict[str, str]:
    with db.write() as session:
        seed(session)
        return {role.value: make_key(session, role) for role in Role if role != Role.store}


@pytest.fixture
def client(keys: dict[str, str], settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def get(client: TestClient, key: str, path: str, **params: str):
    return client.get(path, params=params, headers={"X-API-Key": key})


def test_defaulters_json_and_csv(client: TestClient, keys: dict[str, str]) -> None:
    body = get(client, keys["billing"], "/v1/reports/defaulters", as_of="2026-03-31").json()
    assert body["amount"] == "1130.00" and body["titles"] == 7
    assert [s["state"] for s in body["states"]] == ["SP", "RJ", "??"]
    assert body["buckets"][0] == {"bucket": "1-30", "titles": 3, "customers": 1, "amount": "160.00"}
    response = get(
        client, keys["admin"], "/v1/reports/defaulters", as_of="2026-03-31", format="csv"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.text
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["state", "region", "customers_overdue", "defaulters"]
    assert rows[1][0] == "SP" and rows[1][-1] == "550.00"


def test_new_customers_and_billing(client: TestClient, keys: dict[str, str]) -> None:
    body = get(
        client, keys["marketing"], "/v1/reports/new-customers",
        start="2026-01-01", end="2026-03-01", grain="month",
    ).json()  # fmt: skip
    assert body["periods"] == ["2026-01", "2026-02", "2026-03"] and body["total"] == 5
    assert {r["name"]: r["counts"] for r in body["regions"]}["Sudeste"] == [2, 1, 0]
    billing = get(
        client, keys["billing"], "/v1/reports/billing",
        start="2026-01-01", end="2026-03-31", as_of="2026-03-31",
    ).json()  # fmt: skip
    assert [m["invoiced"] for m in billing["months"]] == ["500.00", "210.00", "1109.00"]
    assert billing["open_amount"] == "2129.00" and billing["overdue_count"] == 7
    csv_text = get(
        client, keys["billing"], "/v1/reports/billing",
        start="2026-01-01", end="2026-03-31", format="csv",
    ).text  # fmt: skip
    assert csv_text.splitlines()[1] == "2026-01,2,500.00,0,0.00"


BAD_PARAMETERS = [
    ("/v1/reports/new-customers", {"grain": "year"}, "grain"),
    ("/v1/reports/new-customers", {"start": "2026-02-30"}, "start"),
    ("/v1/reports/new-customers", {"start": "2026-03-02", "end": "2026-03-01"}, "start"),
    ("/v1/reports/new-customers", {"start": "2020-01-01", "end": "2026-01-01"}, "end"),
    ("/v1/reports/new-customers", {"start": "2025-01-01", "end": "2026-03-01"}, "grain"),
    ("/v1/reports/defaulters", {"as_of": "2999-01-01"}, "as_of"),
    ("/v1/reports/defaulters", {"format": "xml"}, "format"),
    ("/v1/reports/billing", {"start": "2020-01-01", "end": "2026-01-01"}, "end"),
]


def test_bad_parameters_are_422_naming_the_field(client: TestClient, keys: dict[str, str]) -> None:
    for path, params, field in BAD_PARAMETERS:
        response = get(client, keys["admin"], path, **params)
        assert response.status_code == 422, (path, params, response.text)
        assert f'"{field}"' in response.text, (path, params, response.text)


def test_roles(client: TestClient, keys: dict[str, str]) -> None:
    assert get(client, keys["marketing"], "/v1/reports/defaulters").status_code == 403
    assert get(client, keys["marketing"], "/v1/reports/billing").status_code == 403
    assert get(client, keys["channel"], "/v1/reports/new-customers").status_code == 403
    assert client.get("/v1/reports/billing").status_code == 401
    assert get(client, keys["billing"], "/v1/reports/new-customers").status_code == 200


def test_schedules_api(client: TestClient, keys: dict[str, str]) -> None:
    schedule = {
        "report": "defaulters",
        "recipients": ["Financeiro@Exemplo.com.br"],
        "cadence": "weekly",
        "hour": 8,
        "weekday": 0,
    }
    created = client.post(
        "/v1/reports/schedules", json=schedule, headers={"X-API-Key": keys["billing"]}
    )
    assert created.status_code == 201, created.text
    assert created.json()["recipients"] == ["financeiro@exemplo.com.br"]
    refused = client.post(
        "/v1/reports/schedules", json=schedule, headers={"X-API-Key": keys["marketing"]}
    )
    assert refused.status_code == 403
    bad = client.post(
        "/v1/reports/schedules",
        json={**schedule, "recipients": ["não é e-mail"], "hour": 24},
        headers={"X-API-Key": keys["admin"]},
    )
    assert bad.status_code == 422 and "recipients" in bad.text and "hour" in bad.text
    bad_params = client.post(
        "/v1/reports/schedules",
        json={**schedule, "report": "billing", "params": {"months": 99}},
        headers={"X-API-Key": keys["admin"]},
    )
    assert bad_params.status_code == 422 and "months" in bad_params.text
    listed = get(client, keys["marketing"], "/v1/reports/schedules").json()["items"]
    assert listed == []  # marketing does not read defaulters
    listed = get(client, keys["billing"], "/v1/reports/schedules").json()["items"]
    assert [s["report"] for s in listed] == ["defaulters"]
    schedule_id = listed[0]["id"]
    headers = {"X-API-Key": keys["billing"]}
    assert client.delete(f"/v1/reports/schedules/{schedule_id}", headers=headers).status_code == 204
    assert client.delete(f"/v1/reports/schedules/{schedule_id}", headers=headers).status_code == 404
