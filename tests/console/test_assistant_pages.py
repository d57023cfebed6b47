"""The "Atendimento" console (agents and admins): the inbox takes, answers and closes with
pt-BR forms; what each role sees (CPF, e-mail and phone masked for agents unless the customer
was identified; the customer panel only then); history filters and its CSV for Excel; the
analytics with charts; suggested replies kept by admins. One test in Chromium drives the
handoff end to end: an agent takes a queued conversation in the inbox and answers, and the
customer side receives it on the events stream."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access import service as access
from sincro.access.models import ConsoleUser, Role
from sincro.app import create_app
from sincro.assistant import agents, conversations
from sincro.assistant.classifier import classifier
from sincro.assistant.models import OWNER_KEY, Conversation
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.lookup import find_customer
from sincro.db import Database
from tests.assistant.people import open_hours, queued
from tests.browser import LiveServer
from tests.console.support import csrf_of, sign_in
from tests.factories import make_key
from tests.messaging.support import dispatched  # noqa: F401 (a fixture: mail kept in a list)

PASSWORD = "senha-forte-123"
USERS = {
    "admin": ("chefe@sincro.example", "Carla Chefe"),
    "agent": ("ana@sincro.example", "Ana Atendente"),
    "store": ("loja@sincro.example", "Equipe da Loja"),
}
CPF, CPF_MASKED = "529.982.247-25", "***.982.247-**"


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return open_hours(settings, assistant_train_at_start=False)


@pytest.fixture
def clients(db: Database, app_settings: Settings) -> Iterator[dict[str, TestClient]]:
    with db.write() as session:
        for role, (email, name) in USERS.items():
            access.create_user(session, email, name, PASSWORD, role)
    app = create_app(app_settings)
    with TestClient(app) as first:
        out = {"agent": first, "admin": TestClient(app), "store": TestClient(app)}
        for role, client in out.items():
            assert sign_in(client, USERS[role][0], PASSWORD).status_code == 303
        yield out


def post(client: TestClient, page: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf": token}, follow_redirects=False)


def user_by_email(session: Any, email: str) -> ConsoleUser | None:
    return session.scalar(select(ConsoleUser).where(ConsoleUser.email == email))


def ensure_agent(db: Database) -> None:
    """The agent of ``USERS`` exists (the live server's database outlives one test)."""
    with db.write() as session:
        email, name = USERS["agent"]
        if user_by_email(session, email) is None:
            access.create_user(session, email, name, PASSWORD, "agent")


def browser_sign_in(page: Any) -> None:
    """Sign the agent in through the console's own form."""
    page.goto("/console/sign-in")
    page.fill("input[name=email]", USERS["agent"][0])
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Entrar')")
    page.wait_for_url(lambda address: "sign-in" not in address)


def user_id(db: Database, role: str) -> int:
    with db.read() as session:
        user = user_by_email(session, USERS[role][0])
        assert user is not None
        return user.id


def test_an_agent_takes_answers_and_closes_and_sees_masked_data(
    db: Database, app_settings: Settings, clients: dict[str, TestClient]
) -> None:
    agent, admin, store = clients["agent"], clients["admin"], clients["store"]
    text = f"meu cpf {CPF}, email maria.silva@exemplo.com.br, quero um atendente"
    conversation_id = queued(db, app_settings, text, reason="complaint")

    inbox = agent.get("/console/atendimento")
    assert inbox.status_code == 200
    assert ">Atendimento<" in inbox.text and "Reclamação" in inbox.text
    assert CPF_MASKED in inbox.text and CPF not in inbox.text
    assert "ma***@exemplo.com.br" in inbox.text and "maria.silva@" not in inbox.text

    page_url = f"/console/atendimento/conversas/{conversation_id}"
    taken = post(agent, "/console/atendimento", f"{page_url}/assumir")
    assert taken.status_code == 303 and taken.headers["location"].endswith("aviso=taken")
    page = agent.get(page_url)
    assert "Em atendimento" in page.text and 'id="panel-anonymous"' in page.text
    assert CPF_MASKED in page.text and CPF not in page.text
    assert "Respostas sugeridas" in page.text  # for "falar_com_atendente": the generic ones

    answered = post(agent, page_url, f"{page_url}/responder", text="Olá! Já vou verificar.")
    assert answered.status_code == 303 and "aviso=answered" in answered.headers["location"]
    empty = post(agent, page_url, f"{page_url}/responder", text="   ")
    assert empty.headers["location"].endswith("erro=empty")
    assert "Escreva a mensagem" in agent.get(empty.headers["location"]).text
    forged = agent.get(page_url, params={"erro": "Ligue para 0800 000 0000"})
    assert "0800" not in forged.text  # only known codes are shown, never text from the URL

    seen_by_admin = admin.get(page_url)
    assert CPF in seen_by_admin.text  # admins read the text as written
    taken_again = post(admin, page_url, f"{page_url}/assumir")
    assert taken_again.headers["location"].endswith("erro=taken")  # it is Ana's already

    closed = post(agent, page_url, f"{page_url}/encerrar", reason="resolved", csat="1")
    assert closed.status_code == 303
    with db.read() as session:
        conversation = conversations.get(session, conversation_id)
        assert (conversation.state, conversation.close_reason) == ("closed", "resolved")
        assert conversation.csat_asked_at is not None
    assert "Olá! Já vou verificar." in agent.get(page_url).text

    assert store.get("/console/atendimento").status_code == 403
    assert store.get(page_url).status_code == 403
    assert store.get("/console/atendimento/stream").status_code == 401
    assert "Atendimento" not in store.get("/console/skus").text
    forged = store.post(f"{page_url}/assumir", data={"csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 403


def test_an_identified_customer_shows_in_the_panel(
    db: Database, app_settings: Settings, clients: dict[str, TestClient]
) -> None:
    with db.write() as session:
        customers.upsert_customers(
            session,
            "erp",
            [("c1", {"code": "c1", "name": "Maria Silva", "document": "52998224725",
                     "email": "maria.silva@exemplo.com.br", "phone": "(11) 98765-4321",
                     "city": "Campinas", "state": "SP"})],
        )  # fmt: skip
        found = find_customer(session, email="maria.silva@exemplo.com.br")
        assert found is not None
    conversation_id = queued(db, app_settings, f"sou eu, cpf {CPF}", customer_id=found.customer_id)
    page = clients["agent"].get(f"/console/atendimento/conversas/{conversation_id}")
    assert page.status_code == 200
    panel = page.text[page.text.index('id="customer-panel"') :]
    assert "Maria Silva" in panel and f'id="panel-document">{CPF}<' in panel
    assert "ma***@exemplo.com.br" in panel and "5678" not in panel and "4321" in panel
    assert CPF in page.text  # the identified customer's own data is shown as written
    assert "Nenhuma fatura em aberto" in panel and "Nenhum pedido ligado" in panel


@pytest.mark.usefixtures("dispatched")
def test_the_panel_shows_open_invoices_recent_orders_and_messages_received(
    db: Database, app_settings: Settings, clients: dict[str, TestClient]
) -> None:
    """The customer context an agent reads: the open invoice (not the paid one), the order
    made for the customer, and what messaging sent or held back for them."""
    from sincro.messaging import service as messaging
    from tests.assistant import world

    ids = world.seed(db)
    with db.write() as session:
        messaging.ensure_template(
            session, key="aviso", name="Aviso", purpose="service", subject="s", html="h", text="t"
        )
        assert messaging.send_transactional(
            session, customer_id=int(ids["customer"]), purpose="service", kind="aviso",
            dedupe_key="painel", template_key="aviso", context={},
        )  # fmt: skip
    conversation_id = queued(db, app_settings, "sou eu", customer_id=int(ids["customer"]))
    page = clients["agent"].get(f"/console/atendimento/conversas/{conversation_id}")
    assert page.status_code == 200
    panel = page.text[page.text.index('id="customer-panel"') :]
    invoices = panel[panel.index('id="panel-receivables"') : panel.index("</table>")]
    assert world.INVOICE in invoices and "000000124" not in invoices  # the paid one is not open
    assert "PED-2026-000777" in panel and "Nenhum pedido ligado" not in panel
    received = panel[panel.index('id="panel-messages"') :]
    assert "aviso" in received[: received.index("</table>")]


def test_the_agent_searches_products_and_datasheets_beside_the_conversation(
    db: Database, app_settings: Settings, clients: dict[str, TestClient]
) -> None:
    from tests.assistant import world

    world.seed(db)
    conversation_id = queued(db, app_settings, "qual a bateria do galaxy a05?")
    page_url = f"/console/atendimento/conversas/{conversation_id}"
    found = clients["agent"].get(page_url, params={"q": "bateria galaxy a05"})
    assert found.status_code == 200
    hits = found.text[found.text.index('id="search-hits"') :]
    hits = hits[: hits.index("</ol>")]
    assert "Ficha técnica Samsung Galaxy A05" in re.sub(r"</?mark>", "", hits)
    assert "/console/search/" in hits or "/console/skus/" in hits  # each hit opens its page
    none = clients["agent"].get(page_url, params={"q": "xilofone quantico"})
    assert "Nada encontrado para" in none.text
    too_long = clients["agent"].get(page_url, params={"q": "a" * 201})
    assert "A busca pode ter no máximo 200 caracteres." in too_long.text


def test_history_csv_analytics_and_suggested_replies(
    db: Database, app_settings: Settings, clients: dict[str, TestClient]
) -> None:
    agent, admin = clients["agent"], clients["admin"]
    ana = agents.Agent(user_id(db, "agent"), USERS["agent"][1], "agent")
    complaint = queued(db, app_settings, "pessimo atendimento", reason="complaint")
    queued(db, app_settings, "quero cancelar", reason="cancellation")
    with db.write() as session:
        bot_only, _ = conversations.start(session, channel="web")
        conversations.append(session, bot_only, "customer", "oi", intent="saudacao")
        agents.take(session, app_settings, complaint, ana)
        agents.close(session, complaint, ana, "resolved", ask_csat=True)
        agents.record_csat(session, complaint, 4)

    history = agent.get("/console/atendimento/historico", params={"reason": "complaint"})
    assert history.status_code == 200
    rows = re.findall(r'<tr data-conversation="(\d+)"', history.text)
    assert rows == [str(complaint)]
    assert (
        agent.get("/console/atendimento/historico", params={"intent": "saudacao"}).text.count(
            "<tr data-conversation="
        )
        == 1
    )
    bad = agent.get("/console/atendimento/historico", params={"de": "31/02/2026"})
    assert "Data inicial inválida" in bad.text
    csv = agent.get("/console/atendimento/historico.csv", params={"csat": "4"})
    assert csv.status_code == 200 and csv.text.startswith("\ufeffconversa;canal;situacao")
    [line] = csv.text.splitlines()[1:]
    cells = line.split(";")
    assert cells[0] == str(complaint) and cells[2] == "Encerrada" and cells[11] == "4"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", cells[3])
    assert "pessimo" not in csv.text  # no message text in the export

    analytics = agent.get("/console/atendimento/analise")
    assert analytics.status_code == 200
    assert 'id="stat-conversations">3<' in analytics.text
    assert 'id="stat-bot-rate">33,3%<' in analytics.text
    assert 'id="stat-handoff-rate">66,7%<' in analytics.text
    spec = json.loads(
        re.search(r'id="reasons-chart-data">(.*?)</script>', analytics.text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert sorted(spec["labels"]) == ["Cancelamento", "Reclamação"]
    assert "chart.umd.min.js" in analytics.text

    assert agent.get("/console/atendimento/respostas").status_code == 403
    added = post(
        admin,
        "/console/atendimento/respostas",
        "/console/atendimento/respostas",
        intent="falar_com_atendente",
        title="Boas-vindas",
        text="Olá, aqui é da equipe. Em que posso ajudar?",
    )
    assert added.status_code == 303 and "erro" not in added.headers["location"]
    refused = post(
        admin, "/console/atendimento/respostas", "/console/atendimento/respostas",
        intent="nao_existe", title="x", text="y",
    )  # fmt: skip
    assert refused.headers["location"].endswith("erro=intent")
    assert "Intenção desconhecida." in admin.get(refused.headers["location"]).text
    waiting = queued(db, app_settings)
    with db.write() as session:
        agents.take(session, app_settings, waiting, ana)
    page = agent.get(f"/console/atendimento/conversas/{waiting}")
    assert 'data-text="Olá, aqui é da equipe. Em que posso ajudar?"' in page.text


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database


@pytest.mark.browser
def test_browser_agent_takes_a_queued_conversation_and_the_customer_gets_the_answer(
    page: Any, live_server: LiveServer
) -> None:
    db = live_server.db
    settings = open_hours(Settings(database_url=db.url))
    ensure_agent(db)
    with db.write() as session:
        key = make_key(session, Role.channel)
    classifier()  # the server trains it at start (same process): wait for that, not a page
    browser_sign_in(page)
    page.goto("/console/atendimento")
    page.wait_for_selector("#queue-status[data-state=open]")

    # the customer is queued while the agent watches: the row appears live
    conversation_id = queued(db, settings, "quero falar com uma pessoa, meu cpf " + CPF)
    with db.write() as session:  # as if the channel key had started it: only then may it read
        owned = session.get(Conversation, conversation_id)
        assert owned is not None
        owned.flow = {OWNER_KEY: access.authenticate(session, key).key_id}
    row = page.locator(f"#queue-rows tr[data-conversation='{conversation_id}']")
    row.wait_for()
    assert CPF_MASKED in row.inner_text()

    events: list[dict[str, Any]] = []
    url = f"{live_server.url}/v1/assistant/conversations/{conversation_id}/events"

    def customer_side() -> None:
        headers = {"X-API-Key": key, "Accept": "text/event-stream"}
        with httpx.stream("GET", url, params={"after": 1}, headers=headers, timeout=15) as r:
            kind = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "message":
                    events.append(json.loads(line[6:]))
                    if events[-1]["sender"] == "agent":
                        return

    listener = threading.Thread(target=customer_side, daemon=True)
    listener.start()
    row.locator("button:has-text('Atender')").click()
    page.wait_for_url(re.compile(rf"/console/atendimento/conversas/{conversation_id}\?aviso=taken"))
    page.wait_for_selector("#conversation-status[data-state=open]")
    page.locator("button.suggestion").first.click()  # a suggested reply fills the box
    assert page.locator("#answer-text").input_value()
    page.fill("#answer-text", "Olá! Sou a Ana e vou te ajudar agora.")
    page.click("#send-answer")
    page.wait_for_url(re.compile(r"aviso=answered"))
    assert "Olá! Sou a Ana" in page.locator("#transcript").inner_text()
    listener.join(15)
    assert [(e["sender"], e.get("event")) for e in events] == [("system", "taken"), ("agent", None)]
    assert events[-1]["text"] == "Olá! Sou a Ana e vou te ajudar agora."
    assert events[-1]["agent"] == "Ana"

    # the customer writes back: the agent's open page shows it live (masked for an agent)
    with db.write() as session:
        conversations.post_customer(session, settings, conversation_id, f"obrigado! cpf {CPF}")
    fresh = page.locator("#transcript li.msg-customer.fresh")
    fresh.wait_for()
    assert CPF_MASKED in fresh.inner_text() and CPF not in fresh.inner_text()

    # a customer reconnecting with Last-Event-ID gets only what came after it
    resume = {"X-API-Key": key, "Last-Event-ID": str(events[0]["seq"])}
    with httpx.stream("GET", url, headers=resume, timeout=10) as r:
        first = next(line for line in r.iter_lines() if line.startswith('data: {"seq"'))
    assert json.loads(first[6:])["text"] == "Olá! Sou a Ana e vou te ajudar agora."
    page.screenshot(path="/tmp/console-assistant.png", full_page=True)


@pytest.mark.browser
def test_browser_analytics_charts_are_drawn_from_the_package_alone(
    page: Any, live_server: LiveServer
) -> None:
    """The analytics' charts draw in Chromium with every request off this server refused:
    Chart.js and the page's scripts are served by Sincro from the package, no CDN."""
    db = live_server.db
    settings = open_hours(Settings(database_url=db.url))
    ensure_agent(db)
    queued(db, settings, "pessimo atendimento", reason="complaint")
    outside: list[str] = []

    def refuse(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), refuse)
    browser_sign_in(page)
    page.goto("/console/atendimento/analise")
    for chart in ("intents-chart", "reasons-chart"):
        page.wait_for_selector(f"#{chart}[data-drawn=true]", timeout=15000)
    labels = page.evaluate(
        "window.SincroCharts.charts.map(c => c.canvas.id + ':' + c.data.labels.join('|'))"
    )
    assert any(entry.startswith("reasons-chart:") and "Reclamação" in entry for entry in labels)
    sources = page.evaluate("[...document.scripts].filter(s => s.src).map(s => s.src)")
    assert any("/vendor/chart.umd.min.js" in src for src in sources), sources
    assert all(src.startswith(live_server.url + "/") for src in sources), sources
    assert outside == []
