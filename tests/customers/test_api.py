"""The customers API over HTTP on SQLite and PostgreSQL: happy paths and every 4xx, with the
audit entries and events the changes leave."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro import audit
from sincro.access.models import Role
from sincro.config import Settings
from sincro.customers import service
from sincro.db import Database
from sincro.events import Event
from tests.customers.support import add_receivable, admin_key, api_client, cnpj, cpf
from tests.factories import make_key


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    headers = admin_key(db)
    with api_client(settings) as client:
        yield client, headers


def person(n: int, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": f"Cliente {n}",
        "document": cpf(n),
        "email": f"Cliente{n}@Exemplo.com.br",
        "state": "SP",
        "city": "Campinas",
    }
    body.update(extra)
    return body


def test_register_creates_then_merges_by_document(
    api: tuple[TestClient, dict[str, str]], db: Database
) -> None:
    client, h = api
    formatted = cpf(1)[:3] + "." + cpf(1)[3:6] + "." + cpf(1)[6:9] + "-" + cpf(1)[9:]
    consent = {"purpose": "marketing", "granted": True, "evidence": "formulário site #88"}
    first = client.post(
        "/v1/customers", json=person(1, document=formatted, consents=[consent]), headers=h
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["document"] == cpf(1) and body["email"] == "cliente1@exemplo.com.br"
    again = client.post(
        "/v1/customers", json=person(1, phone="11 91234-5678", email=None), headers=h
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert again.json()["phone"] == "11 91234-5678"
    assert again.json()["email"] == "cliente1@exemplo.com.br"  # blanks never erase
    company = client.post("/v1/customers", json=person(2, document=cnpj(77)), headers=h)
    assert company.status_code == 201 and company.json()["document_kind"] == "cnpj"
    detail = client.get(f"/v1/customers/{body['id']}", headers=h).json()
    assert detail["consents"] == [
        {
            "channel": "email",
            "purpose": "marketing",
            "granted": True,
            "updated_at": detail["consents"][0]["updated_at"],
        }
    ]
    assert detail["consent_history"][0]["evidence"] == "formulário site #88"
    with db.read() as session:
        actions = [e.action for e in audit.read(session)[0]]
        topics = list(session.scalars(select(Event.topic)))
    assert actions.count("customer.create") == 2 and "customer.merge" in actions
    assert topics.count("customer.changed") == 3


BAD_REGISTRATIONS = [
    (person(1, document="123.456.789-00"), "document"),
    (person(1, document="abc"), "document"),
    (person(1, state="XX"), "state"),
    (person(1, email="sem-arroba"), "email"),
    (person(1, name="A"), "name"),
    (person(1, name="Ana\x00"), "name"),
    (person(1, birth_date="1800-01-01"), "birth_date"),
    (person(1, surprise=1), "surprise"),
    ({"document": cpf(1)}, "name"),
    (
        person(1, consents=[{"channel": "pombo", "granted": True, "evidence": "x"}]),
        "consents[0].channel",
    ),
    (person(1, consents=[{"granted": True}]), "consents[0].evidence"),
]


def test_register_refuses_bad_input_naming_the_field(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, h = api
    for body, field in BAD_REGISTRATIONS:
        response = client.post("/v1/customers", json=body, headers=h)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field, body
    assert client.get("/v1/customers", headers=h).json()["total"] == 0


def test_keys_other_than_admin_are_refused(db: Database, settings: Settings) -> None:
    with db.write() as session:
        channel = {"X-API-Key": make_key(session, Role.channel)}
    with api_client(settings) as client:
        assert client.get("/v1/customers").status_code == 401
        assert client.get("/v1/customers", headers=channel).status_code == 403
        assert client.post("/v1/customers", json=person(1), headers=channel).status_code == 403
        assert client.get("/v1/suppressions", headers=channel).status_code == 403


def test_search_by_name_document_email_and_filters(
    api: tuple[TestClient, dict[str, str]], db: Database
) -> None:
    client, h = api
    ids = {}
    for n, (name, uf, plan) in enumerate(
        [
            ("Maria Souza", "SP", "Controle 20GB"),
            ("João Lima", "RJ", "Pré"),
            ("Maria Alves", "RJ", "Pré"),
        ],
        start=1,
    ):
        r = client.post("/v1/customers", json=person(n, name=name, state=uf), headers=h)
        ids[name] = r.json()["id"]
        client.patch(f"/v1/customers/{ids[name]}", json={"plan": plan}, headers=h)
    add_receivable(
        db,
        "T1",
        cpf(3),
        service.local_today("America/Sao_Paulo") - dt.timedelta(days=30),
        "99.90",
        source="api",
    )

    def names(**params: object) -> list[str]:
        r = client.get("/v1/customers", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert names(q="maria") == ["Maria Alves", "Maria Souza"]
    assert names(q=f"{cpf(2)[:3]}.{cpf(2)[3:6]}.{cpf(2)[6:9]}-{cpf(2)[9:]}") == ["João Lima"]
    assert names(q=cpf(2)) == ["João Lima"]
    assert names(q="CLIENTE1@exemplo") == ["Maria Souza"]
    assert names(state="rj") == ["João Lima", "Maria Alves"]
    assert names(plan="controle 20gb") == ["Maria Souza"]
    assert names(defaulter="true") == ["Maria Alves"]
    assert names(defaulter="false", state="RJ") == ["João Lima"]
    page2 = client.get("/v1/customers", params={"per_page": 2, "page": 2}, headers=h).json()
    assert page2["total"] == 3 and [c["name"] for c in page2["items"]] == ["Maria Souza"]
    assert names(q="100%_") == []  # LIKE wildcards are plain characters
    bad = client.get("/v1/customers", params={"state": "ZZ"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state"
    nul = client.get("/v1/customers", params={"q": "a\x00"}, headers=h)
    assert nul.status_code == 422 and nul.json()["error"]["field"] == "q"


def test_detail_receivables_patch_and_consent(
    api: tuple[TestClient, dict[str, str]], db: Database
) -> None:
    client, h = api
    cid = client.post("/v1/customers", json=person(5, state="AM", city="Manaus"), headers=h).json()[
        "id"
    ]
    today = service.local_today("America/Manaus")
    add_receivable(db, "R-OLD", cpf(5), today - dt.timedelta(days=12), "50.00", source="api")
    add_receivable(db, "R-PAID", cpf(5), today - dt.timedelta(days=40), "0", source="api")
    detail = client.get(f"/v1/customers/{cid}", headers=h).json()
    assert detail["time_zone"] == "America/Manaus"
    assert detail["defaulter"] is True and detail["days_overdue"] == 12
    by_number = {r["number"]: r for r in detail["receivables"]}
    assert by_number["R-OLD"]["days_overdue"] == 12 and by_number["R-PAID"]["status"] == "paid"
    assert by_number["R-PAID"]["days_overdue"] == 0
    listed = client.get(f"/v1/customers/{cid}/receivables", headers=h).json()
    assert listed["total"] == 2

    patched = client.patch(
        f"/v1/customers/{cid}", json={"email": " NOVO@x.com.br ", "phone": None}, headers=h
    )
    assert patched.status_code == 200 and patched.json()["email"] == "novo@x.com.br"
    assert patched.json()["phone"] is None
    for body, field in [
        ({"name": None}, "name"),
        ({"state": "ZZ"}, "state"),
        ({"document": cpf(9)}, "document"),
    ]:
        r = client.patch(f"/v1/customers/{cid}", json=body, headers=h)
        assert r.status_code == 422 and r.json()["error"]["field"] == field

    url = f"/v1/customers/{cid}/consents/email/billing"
    r = client.put(
        url, json={"granted": True, "source": "contrato", "evidence": "contrato 991"}, headers=h
    )
    assert r.status_code == 200 and r.json()["granted"] is True
    r = client.put(url, json={"granted": False, "evidence": "ligação 0800"}, headers=h)
    assert r.json()["granted"] is False
    history = client.get(f"/v1/customers/{cid}", headers=h).json()["consent_history"]
    assert [(e["granted"], e["evidence"]) for e in history] == [
        (False, "ligação 0800"),
        (True, "contrato 991"),
    ]
    bad = client.put(
        f"/v1/customers/{cid}/consents/pombo/billing",
        json={"granted": True, "evidence": "x"},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "channel"
    bad = client.put(url, json={"granted": True}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "evidence"


def test_unknown_ids_and_erased_customers(api: tuple[TestClient, dict[str, str]]) -> None:
    client, h = api
    for method, path, body in [
        ("GET", "/v1/customers/999", None),
        ("GET", "/v1/customers/999/receivables", None),
        ("GET", "/v1/customers/999/export", None),
        ("PATCH", "/v1/customers/999", {"city": "X"}),
        ("PUT", "/v1/customers/999/consents/email/marketing", {"granted": True, "evidence": "x"}),
        ("POST", "/v1/customers/999/erase", {"reason": "pedido"}),
    ]:
        r = client.request(method, path, json=body, headers=h)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "customer_not_found"
    assert client.get("/v1/customers/0", headers=h).status_code == 422
    assert client.get("/v1/customers/99999999999", headers=h).status_code == 422
    cid = client.post("/v1/customers", json=person(6), headers=h).json()["id"]
    assert (
        client.post(f"/v1/customers/{cid}/erase", json={"reason": ""}, headers=h).status_code == 422
    )
    assert (
        client.post(
            f"/v1/customers/{cid}/erase", json={"reason": "pedido 1"}, headers=h
        ).status_code
        == 200
    )
    r = client.patch(f"/v1/customers/{cid}", json={"city": "X"}, headers=h)
    assert r.status_code == 409
    r = client.put(
        f"/v1/customers/{cid}/consents/email/marketing",
        json={"granted": True, "evidence": "x"},
        headers=h,
    )
    assert r.status_code == 409


def test_suppression_list(api: tuple[TestClient, dict[str, str]], db: Database) -> None:
    client, h = api
    r = client.post(
        "/v1/suppressions", json={"email": " Quem@Exemplo.com ", "reason": "complaint"}, headers=h
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["email"] == "quem@exemplo.com" and r.json()["purpose"] == "*"
    client.post(
        "/v1/suppressions",
        json={"email": "outro@exemplo.com", "purpose": "marketing", "reason": "unsubscribed"},
        headers=h,
    )
    listed = client.get("/v1/suppressions", params={"email": "QUEM@"}, headers=h).json()
    assert [s["email"] for s in listed["items"]] == ["quem@exemplo.com"]
    with db.read() as session:
        assert service.suppressed(session, ["quem@exemplo.com"], purpose="billing") == {
            "quem@exemplo.com"
        }
    for body, field in [
        ({"email": "nada"}, "email"),
        ({"email": "a@b.co", "purpose": "x"}, "purpose"),
        ({"email": "a@b.co", "reason": "x"}, "reason"),
    ]:
        bad = client.post("/v1/suppressions", json=body, headers=h)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field
    assert client.delete(f"/v1/suppressions/{sid}", headers=h).status_code == 204
    gone = client.delete(f"/v1/suppressions/{sid}", headers=h)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "suppression_not_found"
    with db.read() as session:
        assert service.suppressed(session, ["quem@exemplo.com"], purpose="billing") == set()
        actions = [e.action for e in audit.read(session)[0]]
    assert actions.count("suppression.add") == 2 and "suppression.remove" in actions


def test_batch_registration_is_all_or_none_and_names_the_entry(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, h = api
    bad = client.post(
        "/v1/customers/batch",
        json={"customers": [person(1), person(2), person(3), person(4, document="111.111.111-11")]},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "customers[3].document"
    assert client.get("/v1/customers", headers=h).json()["total"] == 0
    ok = client.post(
        "/v1/customers/batch",
        json={"customers": [person(1), person(2), person(1, phone="11 3333-4444")]},
        headers=h,
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["created"], body["joined"]) == (2, 1)
    assert body["items"][2]["customer_id"] == body["items"][0]["customer_id"]
    empty = client.post("/v1/customers/batch", json={"customers": []}, headers=h)
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "customers"
