"""Campaigns through the API against the real SMTP sink: lifecycle and 409s, live counts,
pause/resume that sends nothing twice, 4xx retried with backoff, 5xx suppressed and not
retried, retry-the-failed, cancel, pinned template versions, quiet hours."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database, utcnow
from sincro.messaging import orchestrator, service
from sincro.messaging.models import LedgerEntry
from sincro.messaging.schemas import CampaignIn
from sincro.messaging.sender import Sender
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

TEMPLATE = {
    "key": "oferta-natal",
    "name": "Oferta de Natal",
    "purpose": "marketing",
    "subject": "{{ customer.first_name }}, oferta para {{ customer.city }}",
    "html": '<p>Olá {{ customer.name }}</p><a href="{{ unsubscribe_url }}">sair</a>',
    "text": "Olá {{ customer.name }}. Seu plano: {{ customer.plan }}.",
}


@dataclass
class World:
    client: TestClient
    db: Database
    settings: Settings
    sink: SmtpSink
    kept: Dispatched
    admin: dict[str, str]

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        r = self.client.post(path, json=body, headers=self.admin)
        assert r.status_code == status, r.text
        return r.json()

    def get(self, path: str) -> Any:
        r = self.client.get(path, headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()

    def template(self, **overrides: Any) -> int:
        return int(self.post("/v1/messaging/templates", TEMPLATE | overrides, 201)["id"])

    def campaign(self, template_id: int, **overrides: Any) -> int:
        body = {"name": "Natal", "template_id": template_id, "audience": {"purpose": "marketing"}}
        return int(self.post("/v1/campaigns", body | overrides, 201)["id"])

    def orchestrate(self) -> None:
        while self.kept.orchestrations:
            orchestrator.orchestrate(self.db, self.settings, self.kept.orchestrations.pop(0))

    def run(self, sender: Sender) -> None:
        self.orchestrate()
        drain(sender, self.kept)


@pytest.fixture
def world(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> Iterator[World]:
    config = messaging_settings(settings, sink.port, messaging_claim_size=5)
    with db.write() as s:
        admin = make_key(s, Role.admin)
    with TestClient(create_app(config)) as client:
        yield World(client, db, config, sink, dispatched, {"X-API-Key": admin})


def test_lifecycle_counts_and_headers(world: World) -> None:
    ids = add_customers(world.db, 12)
    add_customers(world.db, 3, purposes=("billing",), prefix="so-cobranca")  # no marketing
    template = world.template()
    campaign = world.campaign(template, reply_to="atendimento@loja.example")
    assert world.post(f"/v1/campaigns/{campaign}/pause", status=409)["error"]["code"] == (
        "campaign_state"
    )
    started = world.post(f"/v1/campaigns/{campaign}/start")
    assert started["state"] == "running" and started["template_version"] == 1
    world.post(f"/v1/campaigns/{campaign}/start", status=409)
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
    assert sorted(m["To"] for m in world.sink.messages) == sorted(
        f"cli{i}@exemplo.com.br" for i in range(1, 13)
    )
    ids_seen = {m["Message-ID"] for m in world.sink.messages}
    assert len(ids_seen) == len(ids)
    first = world.sink.messages[0]
    assert first["Reply-To"] == "atendimento@loja.example"
    assert first["List-Unsubscribe"].startswith("<https://sincro.example/u/")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["Subject"] == "Cliente, oferta para Campinas"
    out = world.get(f"/v1/campaigns/{campaign}")
    assert out["counts"]["sent"] == 12 and out["counts"]["queued"] == 0
    assert out["audience_total"] == 12 and out["materialized"] is True
    assert out["throughput_per_minute"] == 12
    orchestrator.tick(world.db, world.settings)
    assert world.get(f"/v1/campaigns/{campaign}")["state"] == "completed"
    minutes = world.get(f"/v1/campaigns/{campaign}/minutes")
    assert sum(p["sent"] for p in minutes) == 12
    listed = world.get("/v1/campaigns?state=completed")
    assert [c["id"] for c in listed["items"]] == [campaign]


def test_pause_stops_claiming_and_resume_sends_only_what_is_pending(world: World) -> None:
    add_customers(world.db, 30)
    campaign = world.campaign(world.template(), rate_per_second=500)
    world.post(f"/v1/campaigns/{campaign}/start")
    world.orchestrate()
    sent: list[int] = []

    def pause_after_seven(row: LedgerEntry) -> None:
        sent.append(row.id)
        if len(sent) == 7:
            world.post(f"/v1/campaigns/{campaign}/pause")

    with sender_for(world.db, world.settings, before_send=pause_after_seven) as sender:
        drain(sender, world.kept)
    paused = world.get(f"/v1/campaigns/{campaign}")
    assert paused["state"] == "paused"
    # claims are 5 rows: the claim in progress finishes, nothing more is claimed
    assert paused["counts"]["sent"] == 10 and paused["counts"]["queued"] == 20
    assert len(world.sink.messages) == 10
    world.post(f"/v1/campaigns/{campaign}/resume")
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
    per_address = Counter(m["To"] for m in world.sink.messages)
    assert len(per_address) == 30 and set(per_address.values()) == {1}
    assert world.get(f"/v1/campaigns/{campaign}")["counts"]["sent"] == 30


def test_temporary_failure_backs_off_then_succeeds(world: World) -> None:
    add_customers(world.db, 1, prefix="temp")  # the sink answers 451 to temp* addresses
    add_customers(world.db, 2, prefix="ok")
    campaign = world.campaign(world.template())
    world.post(f"/v1/campaigns/{campaign}/start")
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
    with world.db.read() as s:
        row = s.scalars(
            select(LedgerEntry).where(LedgerEntry.email == "temp1@exemplo.com.br")
        ).one()
    assert row.status == "pending" and row.last_code == 451 and row.attempts == 1
    assert row.next_attempt_at is not None
    wait = (row.next_attempt_at - utcnow()).total_seconds()
    assert 55 < wait <= 60  # messaging_retry_base_seconds, doubling per attempt
    assert world.get(f"/v1/campaigns/{campaign}")["counts"]["queued"] == 1
    # not due yet: the pump leaves it; when due, it is queued again and sent
    assert orchestrator.tick(world.db, world.settings)["pumped"] == 0
    world.sink.messages.clear()
    later = utcnow() + dt.timedelta(seconds=61)
    with world.db.write() as s:  # the mailbox is back: rename it so the sink takes it
        s.get(LedgerEntry, row.id).email = "back1@exemplo.com.br"  # type: ignore[union-attr]
    assert orchestrator.tick(world.db, world.settings, now=later)["pumped"] == 1
    with sender_for(world.db, world.settings) as sender:
        drain(sender, world.kept)
    assert [m["To"] for m in world.sink.messages] == ["back1@exemplo.com.br"]
    with world.db.read() as s:
        again = s.get(LedgerEntry, row.id)
    assert again is not None and again.status == "sent" and again.attempts == 2


def test_permanent_failure_suppresses_and_is_not_retried(world: World) -> None:
    add_customers(world.db, 1, prefix="gone")  # 550 at RCPT: the mailbox does not exist
    add_customers(world.db, 1, prefix="ok")
    campaign = world.campaign(world.template())
    world.post(f"/v1/campaigns/{campaign}/start")
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
        counts = world.get(f"/v1/campaigns/{campaign}")["counts"]
        assert counts["failed"] == 1 and counts["sent"] == 1
        with world.db.read() as s:
            row = s.scalars(select(LedgerEntry).where(LedgerEntry.status == "failed")).one()
            assert row.last_code == 550 and "Caixa inexistente" in (row.last_error or "")
            assert customers.suppressed(s, ["gone1@exemplo.com.br"], purpose="billing") == {
                "gone1@exemplo.com.br"
            }
        orchestrator.tick(world.db, world.settings, now=utcnow() + dt.timedelta(days=1))
        drain(sender, world.kept)
        assert world.get(f"/v1/campaigns/{campaign}")["counts"]["failed"] == 1  # not retried
        assert world.post(f"/v1/campaigns/{campaign}/retry-failed")["reset"] == 1
        world.run(sender)
    counts = world.get(f"/v1/campaigns/{campaign}")["counts"]
    assert counts["failed"] == 0 and counts["suppressed"] == 1  # the retry met the suppression
    assert Counter(m["To"] for m in world.sink.messages) == {"ok1@exemplo.com.br": 1}


def test_content_refusal_fails_without_suppression_and_retry_failed_is_one_action(
    world: World,
) -> None:
    add_customers(world.db, 3)
    template = world.template(key="recusada", subject="Oferta recusar {{ customer.first_name }}")
    campaign = world.campaign(template)
    world.post(f"/v1/campaigns/{campaign}/start")
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
        orchestrator.tick(world.db, world.settings)
        out = world.get(f"/v1/campaigns/{campaign}")
        assert out["counts"]["failed"] == 3 and out["state"] == "completed"
        with world.db.read() as s:
            assert customers.suppressed(s, ["cli1@exemplo.com.br"], purpose="marketing") == set()
        assert world.post(f"/v1/campaigns/{campaign}/retry-failed")["reset"] == 3
        assert world.get(f"/v1/campaigns/{campaign}")["state"] == "running"
        world.run(sender)
    assert world.get(f"/v1/campaigns/{campaign}")["counts"]["failed"] == 3  # refused again


def test_cancel_drops_what_is_pending(world: World) -> None:
    add_customers(world.db, 6)
    campaign = world.campaign(world.template())
    world.post(f"/v1/campaigns/{campaign}/start")
    world.orchestrate()
    out = world.post(f"/v1/campaigns/{campaign}/cancel")
    assert out["state"] == "cancelled" and out["counts"]["cancelled"] == 6
    with sender_for(world.db, world.settings) as sender:
        drain(sender, world.kept)
    assert world.sink.messages == []
    assert world.post(f"/v1/campaigns/{campaign}/resume", status=409)["error"]["field"] == "state"
    assert world.post(f"/v1/campaigns/{campaign}/retry-failed", status=409)


def test_beat_sends_the_tick_only_while_it_has_work(world: World) -> None:
    """The tick's gate (``sincro.beat``, ``orchestrator.has_work``): closed for drafts and
    campaigns whose start is ahead or that completed; open for a campaign due to start, one
    running, and a claim past its lease (the reaper's); it lingers a minute after the work."""
    from sincro.messaging.schedule import beat_entries

    db, settings = world.db, world.settings
    add_customers(db, 2)
    assert not orchestrator.has_work(db, settings)
    later = utcnow() + dt.timedelta(hours=1)
    campaign = world.campaign(world.template(), start_at=later.isoformat())
    assert not orchestrator.has_work(db, settings)  # a draft
    assert world.post(f"/v1/campaigns/{campaign}/start")["state"] == "scheduled"
    assert not orchestrator.has_work(db, settings)
    assert orchestrator.has_work(db, settings, now=later + dt.timedelta(seconds=1))
    assert orchestrator.tick(db, settings, now=later + dt.timedelta(seconds=1))["started"] == 1
    assert orchestrator.has_work(db, settings)  # running
    with sender_for(db, settings) as sender:
        world.run(sender)
    orchestrator.tick(db, settings)
    assert world.get(f"/v1/campaigns/{campaign}")["state"] == "completed"
    assert not orchestrator.has_work(db, settings)
    with db.write() as s:  # a worker died holding a claim
        row = s.scalars(select(LedgerEntry).limit(1)).one()
        row.status, row.claimed_by = "sending", "dead-worker"
        row.claimed_at = utcnow() - dt.timedelta(seconds=settings.messaging_lease_seconds + 1)
    assert orchestrator.has_work(db, settings)
    gate = beat_entries(settings)["messaging-tick"]["gate"]
    assert gate(db, settings) and gate.seconds == 60.0


def test_a_started_campaign_keeps_its_template_version(world: World) -> None:
    add_customers(world.db, 2)
    template = world.template()
    campaign = world.campaign(template)
    world.post(f"/v1/campaigns/{campaign}/start")
    r = world.client.put(
        f"/v1/messaging/templates/{template}",
        json={"subject": "NOVA versão", "html": "<p>nova</p>", "text": "nova"},
        headers=world.admin,
    )
    assert r.status_code == 200 and r.json()["current_version"] == 2
    assert r.json()["versions"] == [1, 2]
    with sender_for(world.db, world.settings) as sender:
        world.run(sender)
    assert {m["Subject"] for m in world.sink.messages} == {"Cliente, oferta para Campinas"}
    v1 = world.get(f"/v1/messaging/templates/{template}?version=1")
    assert v1["subject"] == TEMPLATE["subject"]


def test_rate_above_the_relay_and_mismatched_purpose_are_refused(world: World) -> None:
    template = world.template()
    body = {"name": "x", "template_id": template, "rate_per_second": 5000}
    assert world.post("/v1/campaigns", body, 422)["error"]["field"] == "rate_per_second"
    body = {"name": "x", "template_id": template, "audience": {"purpose": "billing"}}
    assert world.post("/v1/campaigns", body, 422)["error"]["field"] == "audience.purpose"
    assert world.post("/v1/campaigns", {"name": "x", "template_id": 999}, 404)


def test_quiet_hours_defer_marketing_to_the_local_morning(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    hour = dt.datetime.now(zone).hour
    config = messaging_settings(
        settings, sink.port, messaging_quiet_start=hour, messaging_quiet_end=(hour + 1) % 24
    )
    add_customers(db, 1)
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
    assert sink.messages == []
    with db.read() as s:
        row = s.scalars(select(LedgerEntry)).one()
    assert row.status == "pending" and row.attempts == 0 and row.next_attempt_at is not None
    local = row.next_attempt_at.astimezone(zone)
    assert (local.hour, local.minute) == ((hour + 1) % 24, 0)
    assert dt.timedelta(0) < row.next_attempt_at - utcnow() <= dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-12-06 23:30", "2026-12-07 08:00"),  # evening: the next morning
        ("2026-12-07 07:59", "2026-12-07 08:00"),  # before dawn: this morning
        ("2026-12-07 08:00", None),
        ("2026-12-07 20:59", None),
        ("2026-12-07 21:00", "2026-12-08 08:00"),
    ],
)
def test_quiet_hours_wrap_around_midnight(local: str, expected: str | None) -> None:
    from sincro.messaging.sender import in_quiet_hours

    zone = ZoneInfo("America/Manaus")
    config = Settings(messaging_quiet_start=21, messaging_quiet_end=8)
    now = dt.datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    until = in_quiet_hours("America/Manaus", config, now.astimezone(dt.UTC))
    shown = until.astimezone(zone).strftime("%Y-%m-%d %H:%M") if until else None
    assert shown == expected
