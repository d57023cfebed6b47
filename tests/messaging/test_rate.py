"""One global send rate shared by every worker: four worker processes never put more than the
rate (plus the bucket's one-token burst) into any one-second window at the SMTP sink.

The rate is 20/s, not the 50/s of the brief: on the shared test machine (2 cores, load ~15)
four workers reach only 30-38/s, so at 50/s the limiter would never bind and the test could not
fail. At 20/s the workers are faster than the rate, which the test checks too. The benchmark
(bench/messaging_rate.py) runs 200/s with 8 workers on a quiet machine.

The limiter acts where a worker hands a message to SMTP, so that is where the bound is strict.
At the sink, arrivals also carry the delivery's jitter (a loaded CI machine delayed some by
~150 ms and put 23 in one second): there the bound holds over windows shortened by the
measured spread of hand-off-to-arrival latencies, which is exact, not a fudge factor."""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

import pytest

from sincro.config import Settings
from sincro.db import Database, reset_databases
from sincro.mail import Mailer, SmtpSettings
from sincro.messaging import orchestrator, service
from sincro.messaging.schemas import CampaignIn
from sincro.messaging.sender import Sender
from sincro.sharedstate import DatabaseSharedState, RedisSharedState, SharedState
from tests.messaging.support import (
    ACTOR,
    Dispatched,
    add_customers,
    make_template,
    messaging_settings,
)
from tests.services import REDIS_URL
from tests.smtp_sink import SmtpSink

RATE = 20
WORKERS = 4
MESSAGES = 70


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _worker(url: str, config: Settings, shared: str, batches: Any, handed: Any) -> None:
    """A worker process: its own database engines, shared state client and SMTP connection."""
    reset_databases()
    db = Database(url)
    state: SharedState = (
        DatabaseSharedState(db)
        if shared == "database"
        else RedisSharedState.from_url(REDIS_URL, shared)
    )
    smtp = SmtpSettings.from_settings(config)
    assert smtp is not None
    sender = Sender(
        db,
        config,
        state,
        Mailer(smtp),
        before_send=lambda row: handed.put((row.email, time.monotonic())),
    )
    try:
        while True:
            try:
                campaign_id, ids = batches.get(timeout=0.5)
            except queue.Empty:
                return
            sender.run_batch(campaign_id, ids)
    finally:
        sender.close()


def _run(
    db: Database, settings: Settings, sink: SmtpSink, kept: Dispatched, shared: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Per recipient: when a worker handed the message to SMTP, and when the sink took it
    (both on the system-wide monotonic clock)."""
    arrived: dict[str, float] = {}
    original = sink.handle_DATA

    async def timed(server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            arrived[rcpt] = time.monotonic()
        return await original(server, session, envelope)

    sink.handle_DATA = timed  # type: ignore[method-assign]
    config = messaging_settings(
        settings,
        sink.port,
        messaging_rate_per_second=RATE,
        messaging_claim_size=5,
        messaging_batch_size=10,
    )
    add_customers(db, MESSAGES)
    template = make_template(db)
    with db.write() as s:
        campaign = service.create_campaign(
            s, CampaignIn(name="c", template_id=template), ACTOR, config
        ).id
    with db.write() as s:
        service.transition(s, campaign, "start", ACTOR)
    orchestrator.orchestrate(db, config, campaign)
    batches: Any = multiprocessing.get_context("fork").Queue()
    handed_queue: Any = multiprocessing.get_context("fork").Queue()
    for batch in kept.take_batches():
        batches.put(batch)
    workers = [
        multiprocessing.get_context("fork").Process(
            target=_worker, args=(db.url, config, shared, batches, handed_queue)
        )
        for _ in range(WORKERS)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert len(sink.messages) == MESSAGES
    handed = dict(handed_queue.get(timeout=5) for _ in range(MESSAGES))
    return handed, arrived


def _check(times: tuple[dict[str, float], dict[str, float]]) -> None:
    handed, arrived = times
    assert handed.keys() == arrived.keys()
    stamps = list(handed.values())
    busiest = max_in_window(stamps)
    span = max(stamps) - min(stamps)
    assert busiest <= RATE + 1, f"{busiest} messages handed to SMTP in one second at {RATE}/s"
    assert busiest >= RATE * 0.6, f"only {busiest}/s: the limiter was not what held them"
    assert span >= (MESSAGES - RATE - 1) / RATE * 0.95  # never faster than the rate allows
    # k arrivals within (1 - spread) s were handed over within 1 s, so k <= RATE + 1 too
    latencies = [arrived[r] - handed[r] for r in handed]
    spread = max(latencies) - min(latencies)
    assert min(latencies) >= 0
    if spread < 0.5:  # beyond that the sink's clock says little about the rate
        at_sink = max_in_window(list(arrived.values()), 1.0 - spread)
        assert at_sink <= RATE + 1, f"{at_sink} arrivals within {1 - spread:.3f} s"


def test_four_workers_share_one_rate_in_the_database(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    times = _run(db, settings, sink, dispatched, "database")
    _check(times)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_four_workers_share_one_rate_in_redis(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched, redis_prefix: str
) -> None:
    times = _run(db, settings, sink, dispatched, redis_prefix)
    _check(times)


def test_window_counter() -> None:
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # [0.5, 1.5)
    assert max_in_window([0.0, 1.0, 2.0]) == 1


def test_token_leases_follow_the_rate_and_never_outlive_a_chunk() -> None:
    """A fast relay leases up to 10 ms of its rate per take (one round trip for several
    messages); a slow one or a slow campaign takes one token at a time."""
    from sincro.messaging.sender import TokenLease, lease_size

    assert [lease_size(r) for r in (1, 50, 199, 200, 1_000, 100_000)] == [1, 1, 1, 2, 10, 10]
    takes: list[tuple[str, float, float, float]] = []

    class Recorder:
        def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
            takes.append((key, rate, burst, cost))
            return 0.0

    settings = Settings(messaging_rate_per_second=1_000)
    lease = TokenLease(Recorder(), settings)  # type: ignore[arg-type]
    for _ in range(25):
        lease.wait(7, rate=1_000, wanted=25)
    assert [cost for *_, cost in takes] == [10.0, 10.0, 10.0]  # 25 messages, 3 round trips
    assert all(burst >= cost for _, _, burst, cost in takes)
    lease.drop()
    takes.clear()
    for _ in range(3):
        lease.wait(8, rate=20, wanted=3)  # the campaign is slower than the relay
    assert [(key.split(":")[1], cost) for key, _, _, cost in takes] == [
        ("campaign", 1.0),
        ("relay", 1.0),
    ] * 3


def test_the_audience_end_goes_out_in_claim_sized_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full batches first, then the last TAPER_BATCHES batches' worth in claim-sized ones, so
    no worker is left sending a whole batch alone at the end of a campaign."""
    from sincro.messaging import service

    sent: list[list[int]] = []
    monkeypatch.setitem(service.dispatcher, "batch", lambda c, ids: sent.append(list(ids)))
    ids = list(range(1, 2_501))
    service.dispatch_batches(7, ids, 200, taper=200 * service.TAPER_BATCHES, small=20)
    sizes = [len(b) for b in sent]
    assert sizes == [200, 200, 200, 200, 100] + [20] * 80
    assert [i for b in sent for i in b] == ids  # every id once, in order
    sent.clear()
    service.dispatch_batches(7, ids[:30], 200, taper=1_600, small=20)  # a small audience
    assert [len(b) for b in sent] == [20, 10]
    sent.clear()
    service.dispatch_batches(7, ids, 200)  # retries and resumes: plain batches
    assert [len(b) for b in sent] == [200] * 12 + [100]
