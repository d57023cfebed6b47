"""The claim (``repository.claim``): which rows it takes, which it withholds (consent and the
suppression list read when it takes them), and — on PostgreSQL — that it finds them by primary
key whatever the statistics say (a claim whose cost grew with the campaign);
the audience's rows written in one statement per page (``repository.add_entries``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database, utcnow
from sincro.messaging import orchestrator, repository as repo, service
from sincro.messaging.models import LedgerEntry
from sincro.messaging.schemas import CampaignIn
from sincro.messaging.sender import WITHHELD
from sincro.messaging.service import RUNNING
from tests.messaging.support import (
    ACTOR,
    Dispatched,
    add_customers,
    make_template,
    messaging_settings,
    sender_for,
)
from tests.smtp_sink import SmtpSink


def running_campaign(db: Database, settings: Settings) -> int:
    """A campaign just started (its audience not yet planned) with the first template."""
    with db.write() as session:
        template_id = session.scalar(text("SELECT min(id) FROM message_templates"))
        campaign = service.create_campaign(
            session, CampaignIn(name="c", template_id=template_id), ACTOR, settings
        )
    with db.write() as session:
        service.transition(session, campaign.id, "start", ACTOR)
    return campaign.id


def started_campaign(db: Database, settings: Settings, kept: Dispatched) -> int:
    """A running campaign whose audience (every consenting customer) is in the ledger."""
    campaign = running_campaign(db, settings)
    orchestrator.orchestrate(db, settings, campaign)
    kept.take_batches()
    return campaign


def ledger_ids(db: Database, campaign_id: int) -> list[int]:
    with db.read() as session:
        query = select(LedgerEntry.id).where(LedgerEntry.campaign_id == campaign_id)
        return list(session.scalars(query.order_by(LedgerEntry.id)))


def test_claim_takes_only_pending_due_rows_of_running_campaigns_once(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    add_customers(db, 8)
    make_template(db)
    campaign = started_campaign(db, settings, dispatched)
    other = started_campaign(db, settings, dispatched)
    ids = ledger_ids(db, campaign)
    paused = ledger_ids(db, other)
    now = utcnow()
    with db.write() as session:
        session.execute(update(LedgerEntry).where(LedgerEntry.id == ids[0]).values(status="sent"))
        later = now + dt.timedelta(hours=1)
        session.execute(
            update(LedgerEntry).where(LedgerEntry.id == ids[1]).values(next_attempt_at=later)
        )
        earlier = now - dt.timedelta(minutes=1)
        session.execute(
            update(LedgerEntry).where(LedgerEntry.id == ids[2]).values(next_attempt_at=earlier)
        )
        service.transition(session, other, "pause", ACTOR)
    with db.write() as session:
        rows = repo.claim(session, ids + paused, token="t1", now=now, running=RUNNING)
        assert [r.id for r in rows] == ids[2:]
        assert {(r.status, r.claimed_by, r.attempts) for r in rows} == {("sending", "t1", 1)}
    with db.write() as session:  # already claimed: nobody takes them again
        assert repo.claim(session, ids + paused, token="t2", now=now, running=RUNNING) == []


def test_audience_rows_are_written_whole_and_once(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    add_customers(db, 5)
    make_template(db)
    before = utcnow()
    campaign = started_campaign(db, settings, dispatched)
    with db.read() as session:
        rows = list(session.scalars(select(LedgerEntry).where(LedgerEntry.campaign_id == campaign)))
        assert len(rows) == 5
        first = min(rows, key=lambda r: r.customer_id)
        assert (first.name, first.email, first.city, first.state, first.plan) == (
            "Cliente Número 1",
            "cli1@exemplo.com.br",
            "Campinas",
            "SP",
            "Controle 20 GB",
        )
        assert first.dedupe_key == f"c{first.customer_id}"
        assert (first.status, first.attempts, first.in_doubt, first.kind) == (
            "pending",
            0,
            False,
            "campaign",
        )
        assert first.enqueued_at is not None and before <= first.enqueued_at <= utcnow()
        again = [
            {c.name: getattr(r, c.name) for c in LedgerEntry.__table__.columns if c.name != "id"}
            for r in rows
        ]
    with db.write() as session:  # the same (campaign, dedupe key): skipped
        assert repo.add_entries(session, again) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_claim_finds_its_rows_by_primary_key_with_stale_statistics(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    """Statistics taken when the campaign had no rows (a new campaign among sent ones) must
    not send the claim through every pending row of the campaign."""
    add_customers(db, 300)
    make_template(db)
    old = started_campaign(db, settings, dispatched)
    with db.write() as session:
        session.execute(
            update(LedgerEntry).where(LedgerEntry.campaign_id == old).values(status="sent")
        )
    with db.write_engine.connect() as conn:
        conn.execute(text("ANALYZE send_ledger"))
        conn.commit()
    campaign = started_campaign(db, settings, dispatched)
    ids = ledger_ids(db, campaign)[100:120]
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.startswith("UPDATE send_ledger SET status"):
            seen.append((statement, params))

    event.listen(db.write_engine, "before_cursor_execute", keep)
    try:
        with db.write() as session:
            claimed = repo.claim(session, ids, token="t", now=utcnow(), running=RUNNING)
    finally:
        event.remove(db.write_engine, "before_cursor_execute", keep)
    assert [r.id for r in claimed] == ids
    ((statement, params),) = seen
    with db.write_engine.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())
        conn.rollback()
    assert "pk_send_ledger" in plan, plan
    assert "ix_send_ledger" not in plan and "Seq Scan on send_ledger" not in plan, plan


def withdraw(session: Session, customer: int, channel: str, purpose: str) -> None:
    customers.record_consent(
        session,
        customer,
        channel=channel,
        purpose=purpose,
        granted=False,
        source="test",
        evidence="after planning",
    )


def test_consent_withdrawn_or_address_suppressed_after_planning_stops_the_message(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    """The claim reads consent and the suppression list when it takes a row: what changed
    since the audience was planned counts, for the row's own purpose only."""
    people = add_customers(db, 6)  # e-mail consent for marketing and billing
    make_template(db)  # marketing
    campaign = started_campaign(db, settings, dispatched)
    with db.write() as session:
        withdraw(session, people[0], "email", "marketing")  # withheld
        withdraw(session, people[1], "email", "billing")  # another purpose: sent
        customers.suppress(
            session, "cli3@exemplo.com.br", reason="unsubscribed", purpose="marketing"
        )
        customers.suppress(session, "cli4@exemplo.com.br", reason="unsubscribed", purpose="billing")
        customers.suppress(session, "CLI5@exemplo.com.br", reason="hard_bounce")  # every purpose
        withdraw(session, people[5], "sms", "marketing")  # another channel: sent
    config = messaging_settings(settings, sink.port)
    with sender_for(db, config) as sender:
        result = sender.run_batch(campaign, ledger_ids(db, campaign))
    assert sorted(m["To"] for m in sink.messages) == [
        "cli2@exemplo.com.br",
        "cli4@exemplo.com.br",
        "cli6@exemplo.com.br",
    ]
    assert (result.sent, result.suppressed, result.failed) == (3, 3, 0)
    with db.read() as session:
        rows = {
            r.email: r
            for r in session.scalars(select(LedgerEntry).where(LedgerEntry.campaign_id == campaign))
        }
    withheld = {
        "cli1@exemplo.com.br": "consent to e-mail/marketing withdrawn",
        "cli3@exemplo.com.br": "address on the suppression list",
        "cli5@exemplo.com.br": "address on the suppression list",
    }
    for email, row in rows.items():
        assert row.attempts == 1 and row.claimed_by is not None, email
        if email in withheld:
            assert (row.status, row.last_error, row.sent_at) == (
                "suppressed",
                withheld[email],
                None,
            )
            assert result.outcomes[row.id] == "suppressed"
        else:
            assert (row.status, row.last_error) == ("sent", None), email
    with db.read() as session:
        assert service.counts(session, campaign).suppressed == 3


def test_the_claim_withholds_by_each_row_purpose(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    """One claim over rows of different purposes (the transactional mail's): each row is
    judged by its own purpose's consent and suppression."""
    (customer,) = add_customers(db, 1, purposes=("billing", "service"))
    with db.write() as session:
        service.ensure_template(
            session, key="aviso", name="Aviso", purpose="service", subject="s", html="h", text="t"
        )
        for purpose in ("billing", "service", "marketing"):
            assert service.send_transactional(
                session,
                customer_id=customer,
                purpose=purpose,
                kind="aviso",
                dedupe_key=purpose,
                template_key="aviso",
                context={},
            )
    with db.write() as session:  # after queueing: billing withdrawn (service suppressed below)
        withdraw(session, customer, "email", "billing")
    ids = [i for _, batch in dispatched.take_batches() for i in batch]
    assert len(ids) == 2  # marketing had no consent when it was queued: never pending
    with db.write() as session:
        rows = repo.claim(session, ids, token="t", now=utcnow(), running=RUNNING, withheld=WITHHELD)
    assert {(r.purpose, r.status, r.last_error) for r in rows} == {
        ("billing", "suppressed", "consent to e-mail/billing withdrawn"),
        ("service", "sending", None),
    }
    with db.write() as session:
        customers.suppress(session, "cli1@exemplo.com.br", reason="manual", purpose="service")
        session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id.in_(ids))
            .values(status="pending", claimed_by=None)
        )
    with db.write() as session:
        rows = repo.claim(
            session, ids, token="t2", now=utcnow(), running=RUNNING, withheld=WITHHELD
        )
    assert {(r.purpose, r.status, r.last_error) for r in rows} == {
        ("billing", "suppressed", "consent to e-mail/billing withdrawn"),
        ("service", "suppressed", "address on the suppression list"),
    }


def test_an_audience_whose_last_page_is_full_still_ends_in_claim_sized_batches(
    db: Database, settings: Settings, dispatched: Dispatched, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audience's end is known with its last page even when that page is full (an
    audience of a multiple of the page size): its rows go in claim-sized batches, so every
    worker is busy to the last row, not one worker sending a whole batch alone at the end."""
    monkeypatch.setattr(service, "AUDIENCE_PAGE", 4)
    add_customers(db, 8)
    make_template(db)
    config = settings.model_copy(update={"messaging_batch_size": 2, "messaging_claim_size": 1})
    campaign = running_campaign(db, config)
    assert orchestrator.orchestrate(db, config, campaign) == 8
    batches = [ids for _, ids in dispatched.take_batches()]
    assert [len(b) for b in batches] == [2, 2, 1, 1, 1, 1]  # taper 2 x 8 covers the last page
    assert [i for b in batches for i in b] == ledger_ids(db, campaign)
    with db.read() as session:
        out = service.get_campaign(session, campaign)
        assert (out.materialized, out.audience_total) == (True, 8)
