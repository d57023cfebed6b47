"""One-click unsubscribe (RFC 8058): GET only shows a confirmation, POST withdraws consent for
that purpose alone at once, without signing in; forged or expired tokens get a 400 page."""

from __future__ import annotations

import time

import itsdangerous.timed
import pytest
from fastapi.testclient import TestClient

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.messaging import compose, orchestrator, service
from sincro.messaging.schemas import CampaignIn
from tests.factories import make_key
from tests.messaging.support import (
    ACTOR,
    Dispatched,
    add_customers,
    drain,
    make_template,
    messaging_settings,
    sender_for,
)
from tests.smtp_sink import SmtpSink


def _link_path(header: str) -> str:
    url = header.split(",")[0].strip().strip("<>")
    return url.removeprefix("https://sincro.example")


def test_get_confirms_post_unsubscribes_that_purpose_only(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    config = messaging_settings(settings, sink.port)
    (customer,) = add_customers(db, 1)
    template = make_template(db)
    with db.write() as s:
        campaign = service.create_campaign(
            s, CampaignIn(name="c", template_id=template), ACTOR, config
        ).id
    with db.write() as s:
        service.transition(s, campaign, "start", ACTOR)
    orchestrator.orchestrate(db, config, campaign)
    with sender_for(db, config) as sender:
        drain(sender, dispatched)
    (message,) = sink.messages
    path = _link_path(message["List-Unsubscribe"])
    with db.write() as s:
        make_key(s, Role.admin)
    with TestClient(create_app(config)) as client:
        page = client.get(path)
        assert page.status_code == 200 and "Confirmar descadastro" in page.text
        assert "ofertas" in page.text
        with db.read() as s:  # a GET changes nothing (scanners follow links)
            assert customers.consenting(s, [customer], channel="email", purpose="marketing")
        done = client.post(
            path,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "descadastro feito" in done.text
        again = client.post(path)  # idempotent
        assert again.status_code == 200
        forged = client.post(path[:-3] + "abc")
        assert forged.status_code == 400 and "não é válido" in forged.text
        assert client.get("/u/nada").status_code == 400
    with db.read() as s:
        assert not customers.consenting(s, [customer], channel="email", purpose="marketing")
        assert customers.consenting(s, [customer], channel="email", purpose="billing")
        history = customers.consent_history(s, customer)
        assert history[0].source == "unsubscribe" and history[0].evidence == f"campaign:{campaign}"
        assert service.counts(s, campaign).unsubscribed == 1


def test_expired_token_is_refused_and_rate_limit_holds(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = settings.model_copy(update={"messaging_unsubscribe_max_age_days": 1})
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner,
        "get_timestamp",
        lambda self: int(time.time()) - 3 * 86400,
    )
    old = compose.unsubscribe_token(config.secret_key, 1, 1, "marketing")
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)
    fresh = compose.unsubscribe_token(config.secret_key, 1, 1, "marketing")
    other_secret = compose.unsubscribe_token("x" * 40, 1, 1, "marketing")
    with TestClient(create_app(config)) as client:
        expired = client.post(f"/u/{old}")
        assert expired.status_code == 400 and "expirou" in expired.text
        assert client.post(f"/u/{other_secret}").status_code == 400
        assert client.get(f"/u/{fresh}").status_code == 200
        statuses = [client.get(f"/u/{fresh}").status_code for _ in range(40)]
    assert statuses.count(429) >= 8  # 30 a minute per client address
