"""The orchestrator (queue ``messaging``, never behind sends): materialises a campaign's
audience into the send ledger page by page and hands the rows to the ``email`` queue in
batches; the tick (beat) starts scheduled campaigns, reaps dead claims, re-enqueues retries
and deferrals that are due, and completes campaigns with nothing left to send."""

from __future__ import annotations

import datetime as dt
import logging

from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.messaging import metrics, repository as repo, sender, service

log = logging.getLogger("sincro.messaging.orchestrator")
PUMP_LIMIT = 20_000


def orchestrate(db: Database, settings: Settings, campaign_id: int) -> int:
    """Materialise what is left of the audience, then (re-)enqueue every pending row that is
    not waiting for a later attempt; duplicates on the queue are harmless (claims are
    atomic). Returns the rows enqueued."""
    enqueued = 0
    more = True
    while more:
        with db.write() as session:
            ids, more = service.materialize_page(session, campaign_id, settings)
        size = settings.messaging_batch_size
        # the audience's end: claim-sized batches, so every worker is busy to the last row
        taper = 0 if more else size * service.TAPER_BATCHES
        service.dispatch_batches(
            campaign_id, ids, size, taper=taper, small=settings.messaging_claim_size
        )
        enqueued += len(ids)
    if enqueued:  # a first run: every pending row was just enqueued
        return enqueued
    after = 0
    while True:
        with db.write() as session:
            if service.campaign_state(session, campaign_id) != "running":
                return enqueued
            ids = service.pending_page(session, campaign_id, after)
        if not ids:
            return enqueued
        service.dispatch_batches(campaign_id, ids, settings.messaging_batch_size)
        enqueued += len(ids)
        after = ids[-1]


def has_work(db: Database, settings: Settings, now: dt.datetime | None = None) -> bool:
    """Whether :func:`tick` would find anything to do: a campaign running or due to start, a
    pending row to (re-)enqueue (the transactional mail's retries too), a claim to reap."""
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=settings.messaging_requeue_after_seconds)
    lease = now - dt.timedelta(seconds=settings.messaging_lease_seconds)
    with db.read() as session:
        return repo.tick_has_work(session, now, stale, lease)


def tick(db: Database, settings: Settings, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    started = _start_scheduled(db, now)
    reaped = sender.reap(db, settings, now)
    pumped = _pump(db, settings, now)
    completed = _complete(db, now)
    return {"started": started, "reaped": reaped, "pumped": pumped, "completed": completed}


def _start_scheduled(db: Database, now: dt.datetime) -> int:
    started = []
    with db.write() as session:
        for campaign in repo.campaigns_in(session, ["scheduled"]):
            if campaign.start_at is None or campaign.start_at <= now:
                campaign.state, campaign.started_at = "running", now
                started.append(campaign.id)
    for campaign_id in started:
        service.dispatch_orchestrate(campaign_id)
    return len(started)


def _pump(db: Database, settings: Settings, now: dt.datetime) -> int:
    stale = now - dt.timedelta(seconds=settings.messaging_requeue_after_seconds)
    with db.write() as session:
        rows = repo.due(session, now, stale, PUMP_LIMIT)
        repo.clear_schedule(session, [i for _, i in rows], now)
    by_campaign: dict[int, list[int]] = {}
    for campaign_id, entry_id in rows:
        by_campaign.setdefault(campaign_id, []).append(entry_id)
    for campaign_id, ids in by_campaign.items():
        service.dispatch_batches(campaign_id, ids, settings.messaging_batch_size)
    return len(rows)


def _complete(db: Database, now: dt.datetime) -> int:
    done = 0
    pending = 0
    with db.write() as session:
        for campaign in repo.campaigns_in(session, ["running"]):
            left = repo.unfinished(session, campaign.id)
            pending += left
            if campaign.materialized and left == 0:
                campaign.state, campaign.finished_at = "completed", now
                done += 1
    metrics.PENDING.set(pending)
    return done
