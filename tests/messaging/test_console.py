"""Console pages of messaging (TestClient): templates saved through the form with errors shown,
the JSON preview behind the editor (CSRF required), campaigns created, started and followed,
results as pt-BR CSV; other roles are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD, csrf_of, sign_in
from tests.messaging.support import Dispatched, add_customers


@pytest.fixture
def console(db: Database, settings: Settings) -> Iterator[TestClient]:
    with db.write() as s:
        create_user(s, USER_EMAIL, USER_NAME, USER_PASSWORD)
        create_user(s, "loja@sincro.example", "Loja", USER_PASSWORD, Role.store)
    with TestClient(create_app(settings)) as client:
        assert sign_in(client).status_code == 303
        yield client


def test_templates_campaigns_and_csv(
    console: TestClient, db: Database, dispatched: Dispatched
) -> None:
    add_customers(db, 4)
    page = console.get("/console/mensagens")
    assert page.status_code == 200 and "Nenhum modelo ainda" in page.text
    editor = console.get("/console/mensagens/modelos/novo")
    csrf = csrf_of(editor.text)
    form = {
        "csrf": csrf,
        "key": "oferta",
        "name": "Oferta",
        "purpose": "marketing",
        "variables": "",
        "subject": "Oi {{ customer.first_name }}",
        "html": "<p>{{ cliente }}</p>",
        "text": "t",
    }
    bad = console.post("/console/mensagens/modelos", data=form)
    assert bad.status_code == 422 and "cliente" in bad.text and "html" in bad.text
    form["html"] = "<p>{{ customer.name }}</p>"
    saved = console.post("/console/mensagens/modelos", data=form, follow_redirects=False)
    assert saved.status_code == 303
    template_page = console.get(saved.headers["location"])
    assert "Modelo salvo (versão 1)" in template_page.text
    preview = {"subject": "{{ customer.city }}", "html": "<b>{{ customer.name }}</b>", "text": "x"}
    refused = console.post("/console/mensagens/modelos/previa", json=preview)
    assert refused.status_code == 400
    shown = console.post(
        "/console/mensagens/modelos/previa", json=preview, headers={"X-CSRF-Token": csrf}
    )
    assert shown.json()["subject"] == "Belo Horizonte"
    assert shown.json()["html"] == "<b>Maria da Silva Souza</b>"
    created = console.post(
        "/console/mensagens/campanhas",
        data={"csrf": csrf, "name": "Natal", "template_id": "1", "states": "SP", "plans": ""},
        follow_redirects=False,
    )
    assert created.status_code == 303
    campaign_url = created.headers["location"]
    started = console.post(
        f"{campaign_url}/acao", data={"csrf": csrf, "action": "start"}, follow_redirects=False
    )
    assert started.status_code == 303 and dispatched.orchestrations == [1]
    data = console.get(f"{campaign_url}/dados").json()
    assert data["campaign"]["state"] == "running" and data["state_label"][0] == "enviando"
    again = console.post(f"{campaign_url}/acao", data={"csrf": csrf, "action": "start"})
    assert "Não é possível iniciar: a campanha está enviando" in again.text
    targeted = console.post(
        "/console/mensagens/campanhas",
        data={"csrf": csrf, "name": "Quem perguntou de planos", "template_id": "1",
              "interest_kind": "plan_upgrade", "interest_days": "15"},
        follow_redirects=False,
    )  # fmt: skip
    assert targeted.status_code == 303
    detail = console.get(f"{targeted.headers['location']}/dados").json()
    assert detail["campaign"]["audience"]["interest"] == {
        "kind": "plan_upgrade", "ref": None, "within_days": 15
    }  # fmt: skip
    csv = console.get(f"{campaign_url}/resultado.csv")
    assert csv.status_code == 200 and csv.text.startswith("\ufeffminuto;enviadas;falhas")


def test_other_roles_are_refused(console: TestClient) -> None:
    console.cookies.clear()
    assert sign_in(console, email="loja@sincro.example").status_code == 303
    assert console.get("/console/mensagens").status_code == 403
    assert "Mensagens" not in console.get("/console/skus").text


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
