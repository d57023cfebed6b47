"""Alert delivery to a real local webhook receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from sincro.config import Settings
from sincro.connectors.alerts import raise_alert
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import Alert
from sincro.connectors.notify import deliver_alerts
from sincro.db import Database

CPF = "529.982.247-25"


class Webhook:
    """A Slack-compatible incoming webhook that can be told to fail."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if outer.fail else 200
                if not outer.fail:
                    outer.posts.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    from aiosmtpd.controller import Controller

    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


def body_of(message: Message) -> str:
    return str(message.get_content())  # type: ignore[attr-defined]


def test_alerts_reach_webhook_and_mail_in_portuguese_without_personal_data(
    settings: Settings, db: Database, webhook: Webhook, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    config = ConnectorsConfig.model_validate(
        {"alerts": {"slack_webhook_url": webhook.url, "email_to": ["ti@operadora.com.br"]}}
    )
    with db.write() as session:
        raise_alert(
            session,
            "sync_failed",
            f"Origem protheus: cliente {CPF} (maria@exemplo.com.br) rejeitado.",
            source="protheus",
            severity="critical",
        )

    webhook.fail = True  # the webhook is down: mail goes, the alert stays unnotified
    report = deliver_alerts(settings, config, db=db)
    assert report.notified == [] and report.failed
    assert len(sink.messages) == 1
    with db.read() as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.notified_at is None and alert.details["delivered"] == ["email"]

    webhook.fail = False  # next round: only the webhook is retried
    report = deliver_alerts(settings, config, db=db)
    assert report.notified == [alert.id]
    assert len(sink.messages) == 1 and len(webhook.posts) == 1
    with db.read() as session:
        assert session.get(Alert, alert.id).notified_at is not None  # type: ignore[union-attr]
    assert deliver_alerts(settings, config, db=db).notified == []  # nothing left

    text = webhook.posts[0]["text"]
    mail = sink.messages[0]
    body = body_of(mail)
    for content in (text, body, mail["Subject"]):
        assert CPF not in content and "52998224725" not in content
        assert "maria@exemplo.com.br" not in content
    assert "[Sincro] CRÍTICO: falha de sincronização na origem protheus" in mail["Subject"]
    assert "[dado pessoal removido]" in text
    assert re.search(r"Registrado em \d{2}/\d{2}/\d{4} \d{2}:\d{2} \(horário de Brasília\)", body)
    assert mail["To"] == "ti@operadora.com.br" and mail["From"] == settings.alert_from
