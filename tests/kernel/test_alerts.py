"""The kernel's alerts: raised in the caller's transaction, deduplicated, and delivered to a
real local webhook receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from sincro.alerts import Alert, DomainAlerts, resolve_alerts
from sincro.alerts_delivery import AlertChannels, deliver_alerts, has_work
from sincro.config import Settings
from sincro.connectors.alerts import ALERTS
from sincro.db import Database
from tests.smtp_sink import SmtpSink, running_sink

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


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running_sink() as sink:
        yield sink


def with_smtp(settings: Settings, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink.port}"})


def body_of(message: Message) -> str:
    return str(message.get_content())  # type: ignore[attr-defined]


def test_alerts_reach_webhook_and_mail_in_portuguese_without_personal_data(
    settings: Settings, db: Database, webhook: Webhook, smtp: SmtpSink
) -> None:
    sink = smtp
    settings = with_smtp(settings, sink)
    config = AlertChannels(webhook_url=webhook.url, email_to=["ti@operadora.com.br"])
    assert not has_work(settings, config, db)  # beat's gate: nothing waits
    with db.write() as session:
        ALERTS.raise_alert(
            session,
            "sync_failed",
            f"Origem protheus: cliente {CPF} (maria@exemplo.com.br) rejeitado.",
            source="protheus",
            severity="critical",
        )
    assert has_work(settings, config, db)
    assert has_work(settings, AlertChannels(webhook_url=webhook.url), db)
    assert has_work(settings, AlertChannels(email_to=["ti@operadora.com.br"]), db)
    no_smtp = settings.model_copy(update={"smtp_url": None})
    assert not has_work(no_smtp, AlertChannels(email_to=["ti@operadora.com.br"]), db)
    assert not has_work(settings, AlertChannels(), db)  # no channel: the task would send none

    webhook.fail = True  # the webhook is down: mail goes, the alert stays unnotified
    report = deliver_alerts(settings, config, ALERTS.labels, db=db)
    assert report.notified == [] and report.failed
    assert len(sink.messages) == 1
    with db.read() as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.notified_at is None and alert.details["delivered"] == ["email"]

    webhook.fail = False  # next round: only the webhook is retried
    report = deliver_alerts(settings, config, ALERTS.labels, db=db)
    assert report.notified == [alert.id]
    assert len(sink.messages) == 1 and len(webhook.posts) == 1
    with db.read() as session:
        assert session.get(Alert, alert.id).notified_at is not None  # type: ignore[union-attr]
    assert deliver_alerts(settings, config, ALERTS.labels, db=db).notified == []  # nothing left
    assert not has_work(settings, config, db)

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


def test_alerts_are_deduplicated_resolved_and_know_their_domain(db: Database) -> None:
    forecasting = DomainAlerts("forecasting", {"model_failed": "falha no modelo"})
    with db.write() as session:
        first = forecasting.raise_alert(
            session, "model_failed", "Modelo sem dados", details={"sku": "X"}, dedupe_key="m:X"
        )
        again = forecasting.raise_alert(session, "model_failed", "De novo", dedupe_key="m:X")
        other = ALERTS.raise_alert(session, "sync_failed", "Falhou", dedupe_key="s")
        assert again.id == first.id and other.id != first.id
    with db.write() as session:
        assert resolve_alerts(session, "m:X", "nothing") == 1
    with db.write() as session:  # resolved: the condition coming back raises a new alert
        reopened = forecasting.raise_alert(session, "model_failed", "Outra vez", dedupe_key="m:X")
        assert reopened.id != first.id
    with db.read() as session:
        stored = session.get(Alert, first.id)
        assert stored is not None and stored.resolved_at is not None
        assert stored.domain == "forecasting" and stored.details == {
            "sku": "X",
            "domain": "forecasting",
            "label": "falha no modelo",
        }


def test_a_round_uses_one_smtp_connection_and_stops_retrying_refused_mail(
    settings: Settings, db: Database, smtp: SmtpSink
) -> None:
    settings = with_smtp(settings, smtp)
    with db.write() as session:
        for i in range(3):
            ALERTS.raise_alert(session, "large_drift", f"Divergência {i}", source="sap-ecc")
    channels = AlertChannels(email_to=["ti@operadora.com.br"])
    report = deliver_alerts(settings, channels, ALERTS.labels, db=db)
    assert len(report.notified) == 3 and smtp.connections == 1 and len(smtp.messages) == 3
    assert (
        smtp.messages[0]["Subject"] == "[Sincro] Atenção: divergência de estoque na origem sap-ecc"
    )

    with db.write() as session:
        gone = ALERTS.raise_alert(session, "sync_failed", "Falhou")
        later = ALERTS.raise_alert(session, "source_down", "Fora do ar")
    refused = deliver_alerts(settings, AlertChannels(email_to=["gone@x.com"]), {}, db=db)
    assert set(refused.failed) == {gone.id, later.id} and "550" in refused.failed[gone.id]
    temporary = deliver_alerts(settings, AlertChannels(email_to=["temp@x.com"]), {}, db=db)
    assert temporary.failed == {} and temporary.notified == []  # 5xx: not tried again
    with db.read() as session:
        stored = session.get(Alert, gone.id)
        assert stored is not None and stored.notified_at is not None
        assert "gone@x.com" not in stored.details["undeliverable"]["email"]


def test_a_temporary_refusal_is_retried_next_round(
    settings: Settings, db: Database, smtp: SmtpSink
) -> None:
    settings = with_smtp(settings, smtp)
    with db.write() as session:
        alert = ALERTS.raise_alert(session, "stale_source", "Dados antigos")
    first = deliver_alerts(settings, AlertChannels(email_to=["temp@x.com"]), {}, db=db)
    assert "451" in first.failed[alert.id]
    second = deliver_alerts(settings, AlertChannels(email_to=["ti@x.com"]), {}, db=db)
    assert second.notified == [alert.id] and len(smtp.messages) == 1


def test_an_alert_keeps_its_domains_label_for_whoever_delivers_it(
    settings: Settings, db: Database, smtp: SmtpSink
) -> None:
    forecasting = DomainAlerts("forecasting", {"stockout_risk": "risco de ruptura previsto"})
    with db.write() as session:
        forecasting.raise_alert(session, "stockout_risk", "CEL-1 em LJ-A", source="LJ-A")
    # the connectors' task delivers every domain's alerts with only its own labels at hand
    deliver_alerts(
        with_smtp(settings, smtp), AlertChannels(email_to=["ti@x.com"]), ALERTS.labels, db=db
    )
    assert (
        smtp.messages[-1]["Subject"] == "[Sincro] Atenção: risco de ruptura previsto na origem LJ-A"
    )
