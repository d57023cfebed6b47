"""The console's "Caixa de saída (demo)": what the real SMTP sink kept, listed, searched and
shown safely (HTTP on both databases; one browser test)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.mail import Mailer, SmtpSettings, build_message
from sincro.mailbox.sink import SinkHandler, running
from sincro.mailbox.store import SinkWriter
from tests.browser import LiveServer
from tests.console.support import seed_world, sign_in

HOSTILE_HTML = (
    '<p onclick="steal()">Sua fatura <b>chegou</b></p><script>alert("x")</script>'
    '<img src="https://rastreio.test/pixel.gif"><a href="javascript:alert(1)">pagar</a>'
    '<form action="https://phish.test"><input name="senha"></form>'
)


def fill_sink(path: Path, count: int) -> list[str]:
    """Send ``count`` messages through a real SMTP sink that keeps bodies in ``path``."""
    writer = SinkWriter(path)
    handler = SinkHandler(keep_bodies=True, writer=writer)
    smtp = SmtpSettings.from_url("smtp://127.0.0.1:1", sender="loja@loja.test")
    with running(handler) as port:
        smtp = smtp.model_copy(update={"port": port})
        with Mailer(smtp) as mailer:
            results = mailer.send_many(
                build_message(
                    sender="Loja <loja@loja.test>",
                    to=f"cliente{n}@exemplo.test",
                    subject=f"Fatura {n} disponível",
                    text=f"Olá, cliente {n}!\nSua fatura está disponível.",
                    html=HOSTILE_HTML,
                    headers={"List-Unsubscribe": f"<https://loja.test/u/{n}>"},
                )
                for n in range(count)
            )
    writer.close()
    assert all(r.ok for r in results)
    return [str(r.message_id) for r in results]


@pytest.fixture
def sink_file(tmp_path: Path) -> Path:
    return tmp_path / "mail-sink.sqlite"


@pytest.fixture
def client(db: Database, settings: Settings, sink_file: Path) -> Iterator[TestClient]:
    with db.write() as session:
        seed_world(session)
    configured = settings.model_copy(update={"mailbox_sink_path": sink_file})
    with TestClient(create_app(configured)) as client:
        assert sign_in(client).status_code == 303
        yield client


def test_the_list_is_newest_first_searchable_and_paged(client: TestClient, sink_file: Path) -> None:
    fill_sink(sink_file, 60)
    page = client.get("/console/mailbox")
    assert page.status_code == 200
    ids = re.findall(r'<tr data-id="(\d+)">', page.text)
    assert len(ids) == 50 and ids[0] == "60"
    assert "Fatura 59 disponível" in page.text and "cliente59@exemplo.test" in page.text
    assert "Página 1 de 2" in page.text
    second = client.get("/console/mailbox?page=2")
    assert re.findall(r'<tr data-id="(\d+)">', second.text) == [str(n) for n in range(10, 0, -1)]
    found = client.get("/console/mailbox", params={"q": "cliente7@"})
    assert re.findall(r'<tr data-id="(\d+)">', found.text) == ["8"]
    assert "Nenhuma mensagem para" in client.get("/console/mailbox?q=nada-disso").text


def test_a_message_shows_headers_text_and_html_only_in_a_locked_frame(
    client: TestClient, sink_file: Path
) -> None:
    [message_id] = fill_sink(sink_file, 1)
    page = client.get("/console/mailbox/1")
    assert page.status_code == 200
    assert message_id.strip("<>") in page.text
    assert "https://loja.test/u/0" in page.text  # List-Unsubscribe shown
    assert "Olá, cliente 0!" in page.text
    assert "<script>alert" not in page.text  # the HTML is not inline in the page
    assert re.search(r"<iframe [^>]*sandbox[ >]", page.text)
    frame = client.get("/console/mailbox/1/html")
    assert frame.status_code == 200
    csp = frame.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "img-src data:" in csp
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<b>chegou</b>" in frame.text
    for hostile in ("<script", "onclick", "javascript:", "<form", "<input", "rastreio.test"):
        assert hostile not in frame.text


def test_unknown_messages_and_a_missing_sink(client: TestClient, sink_file: Path) -> None:
    assert client.get("/console/mailbox/99").status_code == 404
    assert "Nenhuma caixa" not in client.get("/console/mailbox").text  # configured, still empty
    fill_sink(sink_file, 1)
    assert client.get("/console/mailbox/99").status_code == 404
    assert client.get("/console/mailbox/1/html").status_code == 200


def test_production_without_a_sink_file_has_no_mailbox(db: Database, settings: Settings) -> None:
    with db.write() as session:
        seed_world(session)
    production = settings.model_copy(update={"mode": "production", "mailbox_sink_path": None})
    with TestClient(create_app(production)) as client:
        assert sign_in(client).status_code == 303
        page = client.get("/console/mailbox")
        assert page.status_code == 200 and "Nenhuma caixa de demonstração" in page.text


def test_only_admins_read_the_mailbox(db: Database, settings: Settings, sink_file: Path) -> None:
    fill_sink(sink_file, 1)
    with db.write() as session:
        seed_world(session)
        create_user(session, "loja@sincro.example", "Loja", "senha-forte-123", Role.store)
    configured = settings.model_copy(update={"mailbox_sink_path": sink_file})
    with TestClient(create_app(configured)) as client:
        assert sign_in(client, "loja@sincro.example").status_code == 303
        assert client.get("/console/mailbox").status_code == 403
        assert client.get("/console/mailbox/1").status_code == 403
        assert client.get("/console/mailbox/1/html").status_code == 403


def test_the_mailbox_in_a_browser(signed_in: Any, live_server: LiveServer) -> None:
    page = signed_in
    folder = Path(live_server.db.url.removeprefix("sqlite:///")).parent
    fill_sink(folder / "mail-sink.sqlite", 3)  # embedded mode: var/mail-sink.sqlite
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.click("nav.nav a:has-text('Caixa de saída (demo)')")
    page.wait_for_url(re.compile(r"/console/mailbox$"))
    assert page.locator("#mailbox-table tbody tr").count() == 3
    page.click("#mailbox-table a:has-text('Fatura 2 disponível')")
    page.wait_for_url(re.compile(r"/console/mailbox/3$"))
    frame = page.frame_locator("#message-html")
    assert frame.locator("b").inner_text() == "chegou"
    time.sleep(0.3)
    assert dialogs == []  # no script ran
    assert "Sua fatura está disponível" in page.locator("#message-text").inner_text()


# what a page renders does not depend on the database (see tests/conftest.py)
pytestmark = pytest.mark.one_database
