"""Templates: the sandbox refuses Python internals, variables are checked on save with errors
naming the part and line, pt-BR filters, preview for a sample customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.messaging import templates as tpl
from tests.factories import make_key
from tests.messaging.support import add_customers

GOOD = {
    "key": "boas-vindas",
    "name": "Boas-vindas",
    "purpose": "marketing",
    "subject": "Bem-vindo, {{ customer.first_name }}",
    "html": "<p>{{ customer.name }}</p>",
    "text": "{{ customer.name }}",
}


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with db.write() as s:
        admin = make_key(s, Role.admin)
        store = make_key(s, Role.channel)
    with TestClient(create_app(settings)) as client:
        client.headers["X-Test-Store"] = store
        yield client, {"X-API-Key": admin}


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ customer.update({'name': 'x'}) }}",
        "{% set x = [].append(1) %}",
        "{{ lipsum.__globals__['os'] }}",
    ],
)
def test_sandbox_refuses_python_internals(source: str) -> None:
    sample = {"customer": dict(tpl.SAMPLE_CUSTOMER)}
    with pytest.raises(tpl.TemplateProblem) as refused:
        tpl.check({"subject": "s", "html": source, "text": "t"}, tpl.BASE_VARIABLES, sample)
    assert refused.value.part == "html"


def test_filters_read_pt_br_in_the_recipients_zone() -> None:
    parts = {
        "subject": "{{ total | money }}",
        "html": "{{ when | datetime }} · {{ day | date }} · {{ n | number }}",
        "text": "{{ '<b>' }}",
    }
    out = tpl.render(
        parts,
        {
            "total": "1234.5",
            "when": dt.datetime(2026, 1, 15, 2, 30, tzinfo=dt.UTC),
            "day": "2026-01-15",
            "n": 1234567,
            "time_zone": "America/Manaus",
        },
    )
    assert out.subject == "R$ 1.234,50"
    assert out.html == "14/01/2026 22:30 · 15/01/2026 · 1.234.567"
    assert out.text == "<b>"  # text is not escaped; HTML is


def test_save_names_part_and_line_and_keeps_versions(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, admin = api
    bad = GOOD | {"text": "linha 1\n{{ cliente.nome }}"}
    r = client.post("/v1/messaging/templates", json=bad, headers=admin)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_template" and error["field"] == "text"
    assert error["details"][0]["line"] == 2 and "cliente" in error["message"]
    r = client.post("/v1/messaging/templates", json=GOOD | {"subject": "{% if %}"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "subject"
    r = client.post(
        "/v1/messaging/templates", json=GOOD | {"html": "{{ customer.cpf }}"}, headers=admin
    )
    assert r.status_code == 422 and "cpf" in r.json()["error"]["message"]
    r = client.post(
        "/v1/messaging/templates", json=GOOD | {"html": "{{ ''.__class__ }}"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "html"
    created = client.post("/v1/messaging/templates", json=GOOD, headers=admin)
    assert created.status_code == 201, created.text
    assert client.post("/v1/messaging/templates", json=GOOD, headers=admin).status_code == 409
    tid = created.json()["id"]
    store = {"X-API-Key": client.headers["X-Test-Store"]}
    assert client.get(f"/v1/messaging/templates/{tid}", headers=store).status_code == 403
    r = client.put(
        f"/v1/messaging/templates/{tid}",
        json={"subject": "{{ nada }}", "html": "x", "text": "y"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "subject"
    assert client.get(f"/v1/messaging/templates/{tid}", headers=admin).json()["versions"] == [1]


def test_preview_renders_for_a_sample_or_a_real_customer(
    db: Database, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, admin = api
    (customer,) = add_customers(db, 1, city="Manaus", state="AM")
    body = {
        "subject": "Olá {{ customer.first_name }}",
        "html": "<p>{{ customer.city }} {{ fatura.valor | money }}</p>",
        "text": "{{ customer.name }}",
        "variables": ["fatura"],
    }
    r = client.post("/v1/messaging/templates/preview", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert r.json()["subject"] == "Olá Maria" and "R$ 1.234,56" in r.json()["html"]
    r = client.post(
        "/v1/messaging/templates/preview", json=body | {"customer_id": customer}, headers=admin
    )
    assert r.json()["html"].startswith("<p>Manaus")
    r = client.post("/v1/messaging/templates/preview", json=body | {"html": "{{ x"}, headers=admin)
    assert r.json() | {"error": None} == {
        "ok": False,
        "subject": "",
        "html": "",
        "text": "",
        "error": None,
        "field": "html",
        "line": 1,
    }
