"""Automation's console pages ("Automação": rules form with pt-BR errors and audit, interests,
results with a chart and CSV) and its API (admin and marketing keys); other roles refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.audit import AuditEntry
from sincro.automation import rules
from sincro.config import Settings
from sincro.db import Database
from tests.automation.support import add_customer, offer_template, read, say, world
from tests.automation.test_automation import ASKED, DAYTIME
from tests.console.support import USER_PASSWORD, csrf_of, sign_in
from tests.factories import make_key
from tests.messaging.support import Dispatched, make_template

MARKETING = "marketing@sincro.example"
STORE = "loja@sincro.example"


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as s:
        create_user(s, MARKETING, "Marta Marketing", USER_PASSWORD, Role.marketing)
        create_user(s, STORE, "Loja", USER_PASSWORD, Role.store)
    with TestClient(create_app(settings)) as client:
        yield client


def test_rules_interests_and_results_pages(
    client: TestClient, db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    world(db)
    ana = add_customer(db, "ana")
    read(db, settings)
    say(db, ana, "planos_ofertas", ASKED, plan="CTRL-20")
    read(db, settings)
    plan_template = offer_template(db)
    billing_template = make_template(db, key="fatura", purpose="billing")
    assert sign_in(client, email=MARKETING).status_code == 303
    page = client.get("/console/automacao")
    assert page.status_code == 200 and "Nenhuma regra ainda" in page.text
    assert ">Automação<" in page.text  # the nav entry
    form_page = client.get("/console/automacao/regras/nova")
    assert "Oferta: troca de plano" in form_page.text
    assert "Fatura" not in form_page.text  # a billing template is not offered
    csrf = csrf_of(form_page.text)
    form = {"csrf": csrf, "name": "", "kind": "plan_upgrade", "min_strength": "abc",
            "within_days": "0", "template_id": str(plan_template), "active": "1"}  # fmt: skip
    bad = client.post("/console/automacao/regras", data=form)
    assert bad.status_code == 422
    assert "Nome: preencha este campo." in bad.text
    assert "Força mínima: informe um número." in bad.text
    assert "Nos últimos (dias): deve ser pelo menos 1." in bad.text
    wrong = client.post(
        "/console/automacao/regras",
        data=form | {"name": "Plano", "min_strength": "0,5", "within_days": "7",
                     "template_id": str(billing_template)},
    )  # fmt: skip
    assert wrong.status_code == 422 and "Modelo de mensagem: o modelo precisa ser" in wrong.text
    saved = client.post(
        "/console/automacao/regras",
        data=form | {"name": "Plano após pergunta", "min_strength": "0,5", "within_days": "7"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    listing = client.get(saved.headers["location"])
    assert "Regra 1 salva." in listing.text and "Plano após pergunta" in listing.text
    edit = client.get("/console/automacao/regras/1")
    assert 'value="0,5"' in edit.text
    paused = client.post(
        "/console/automacao/regras/1",
        data=form | {"name": "Plano após pergunta", "min_strength": "0,5", "within_days": "10",
                     "active": ""},
        follow_redirects=False,
    )  # fmt: skip
    assert paused.status_code == 303
    assert "pausada" in client.get("/console/automacao").text
    assert client.get("/console/automacao/regras/999").status_code == 404
    with db.read() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["automation.rule.create", "automation.rule.update"]

    interests = client.get("/console/automacao/interesses")
    assert interests.status_code == 200 and "CTRL-20" in interests.text
    assert "Maria" not in interests.text  # aggregates only

    client.post(  # active again, then an offer goes out
        "/console/automacao/regras/1",
        data=form | {"name": "Plano após pergunta", "min_strength": "0,5", "within_days": "30"},
    )  # fmt: skip
    with db.write() as session:
        assert rules.evaluate(session, settings, now=DAYTIME).sent == 1
    results = client.get("/console/automacao/resultados", params={"start": "2026-11-25",
                                                                  "end": "2026-12-05"})  # fmt: skip
    assert results.status_code == 200 and 'data-chart="automation-chart-data"' in results.text
    assert "Ofertas enviadas" in results.text
    backwards = {"start": "2026-12-05", "end": "2026-11-25"}
    bad_period = client.get("/console/automacao/resultados", params=backwards)
    assert (
        bad_period.status_code == 422 and "o início não pode ser depois do fim" in bad_period.text
    )
    csv = client.get("/console/automacao/resultados.csv", params={"start": "2026-12-01",
                                                                  "end": "2026-12-03"})  # fmt: skip
    assert csv.status_code == 200
    assert csv.text.splitlines() == [
        "\ufeffdia;ofertas enviadas;conversões",
        "01/12/2026;0;0",
        "02/12/2026;1;0",
        "03/12/2026;0;0",
    ]

    client.cookies.clear()
    assert sign_in(client, email=STORE).status_code == 303
    assert client.get("/console/automacao").status_code == 403
    assert client.get("/console/automacao/regras/nova").status_code == 403
    assert client.post("/console/automacao/regras", data=form).status_code == 403
    assert "Automação" not in client.get("/console/skus").text


def test_the_api_for_admin_and_marketing_keys(client: TestClient, db: Database) -> None:
    template = offer_template(db, "automation.retention_offer")
    with db.write() as session:
        marketing = {"X-API-Key": make_key(session, Role.marketing)}
        channel = {"X-API-Key": make_key(session, Role.channel)}
    body = {"name": "Retenção", "kind": "cancellation_risk", "min_strength": 0.5,
            "within_days": 3, "template_id": template}  # fmt: skip
    created = client.post("/v1/automation/rules", json=body, headers=marketing)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["kind"] == "cancellation_risk" and rule["active"]
    for bad, field in (
        ({**body, "template_id": 99999}, "template_id"),
        ({**body, "kind": "ninguem"}, "kind"),
        ({**body, "within_days": 0}, "within_days"),
    ):
        answer = client.post("/v1/automation/rules", json=bad, headers=marketing)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    changed = client.put(
        f"/v1/automation/rules/{rule['id']}", json={**body, "active": False}, headers=marketing
    )
    assert changed.status_code == 200 and not changed.json()["active"]
    assert client.get("/v1/automation/rules/999", headers=marketing).status_code == 404
    listed = client.get("/v1/automation/rules", headers=marketing).json()
    assert [r["name"] for r in listed] == ["Retenção"]
    keys = {t["key"] for t in client.get("/v1/automation/templates", headers=marketing).json()}
    assert "automation.back_in_stock_offer" in keys
    assert client.get("/v1/automation/interests", headers=marketing).json() == []
    results = client.get(
        "/v1/automation/results", params={"start": "2026-12-01", "end": "2026-12-02"},
        headers=marketing,
    ).json()  # fmt: skip
    assert [d["offers"] for d in results["days"]] == [0, 0]
    assert client.get("/v1/automation/rules", headers=channel).status_code == 403
    assert client.post("/v1/automation/rules", json=body, headers=channel).status_code == 403


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
