"""Webhook delivery: signed batches, in order per subscriber, retried with jittered backoff.

What a receiver gets
--------------------
Each delivery is an HTTP ``POST`` to the subscribed URL with ``Content-Type:
application/json`` and the body ``{"events": [...]}``: up to 100 availability events in
``seq`` order, each with the fields of the SSE feed (``seq``, ``sku``, ``location``,
``available``, ``on_hand``, ``reserved``, ``version``, ``cause``, ``reference``, ``at``).
A subscription receives stock changes only unless it chose other ``topics`` when it was
created; an event of another topic is ``{"seq", "topic", "payload", "at"}``. Events a
subscription does not receive are skipped (its cursor moves past them, so ``seq`` may jump).
Headers:

``Sincro-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``
    ``hex`` is ``HMAC-SHA256(secret, f"{t}.{raw body}")`` in lowercase hex, keyed with the
    subscription's secret (shown once, when the subscription is created or its secret
    rotated). After ``POST /v1/webhooks/{id}/rotate-secret`` and for the overlap window
    (24 h by default) there are two ``v1`` values, the new secret's first: accept either.
    Verify over the *raw* request bytes, before parsing JSON, and reject stale timestamps so a
    captured request cannot be replayed later: :func:`verify_signature` does all of this.
``Sincro-Delivery: <first seq>-<last seq>``
    The range of sequence numbers in the batch.

Answer any 2xx within 10 seconds to acknowledge the batch. Anything else (or no answer) is a
failure: redirects are not followed (a 3xx fails), only the first 200 characters of a
failing answer's body are logged (anything that looks like personal data, a secret or a
token removed), and the target is checked again at every delivery (:mod:`sincro.safe_http`):
a name that now resolves to a private address fails ("delivery failed") like a refused
connection, with the reason in the server log only. The batch is retried after a jittered
exponential backoff (between half and all of ``min(300, 2 ** failures)`` seconds), starting
again at the same first event (a retry may carry more events than the attempt before).
After ``SINCRO_WEBHOOK_MAX_ATTEMPTS`` failures in a row the subscription is deactivated
(``active: false`` in the API) until ``POST /v1/webhooks/{id}/resume``, which resumes
from where delivery stopped.

Guarantees: batches of one subscription are sent one at a time, and batch N+1 only after N
was acknowledged. Delivery is at least once: a receiver that acknowledged but whose answer
was lost sees events again, so remember the last ``seq`` you processed and skip any event at
or below it (``seq`` only grows).

How it works
------------
:func:`dispatch_all` (the Celery task ``sincro.feed.dispatch_webhooks``) finds the safe end of
the outbox with the gap-aware :class:`~sincro.feed.tailer.OutboxTailer` (so
an event of a transaction that commits late is waited for, not skipped). Then, for each due
subscription, it takes a lease with a conditional UPDATE in its own short transaction, reads a
batch, POSTs it with no transaction open, and records the outcome in another short
transaction that is fenced on the lease and the cursor it read.

When it runs: on SQLite beat sends it every second. On PostgreSQL beat sends it soon after
every commit that wrote events (at most once a second) and otherwise polls only every
``SINCRO_FEED_WEBHOOK_SAFETY_POLL_SECONDS`` (:mod:`sincro.beat`), so a run that leaves work
behind asks beat for the next one (:func:`sincro.beat.request`): a failed batch for its retry
time (in the transaction that records the failure), and at the end of a run, another run as
soon as allowed while an active subscription is still due or the outbox has grown past what the
run could deliver (events committed meanwhile, perhaps to a subscription another run held; a
hole the frontier is still waiting on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from sincro import __version__, beat, safe_http
from sincro.config import Settings, get_settings
from sincro.db import Database, database_for, utcnow
from sincro.feed import repository as repo
from sincro.feed.metrics import WEBHOOK_DELIVERIES
from sincro.feed.repository import Attempt, Lease
from sincro.feed.schedule import DISPATCH_TASK
from sincro.feed.service import webhook_policy
from sincro.feed.tailer import OutboxTailer, read_events

log = logging.getLogger("sincro.feed.webhooks")

BATCH_SIZE = 100
MAX_BACKOFF_SECONDS = 300.0
LEASE_SECONDS = 60.0
SUBSCRIPTION_BUDGET_SECONDS = 15.0
DISPATCH_BUDGET_SECONDS = 25.0
MAX_DUE_PER_RUN = 500
PARALLEL_DELIVERIES = 8
FRONTIER_POLLS_PER_RUN = 50
SIGNATURE_HEADER = "Sincro-Signature"
DELIVERY_HEADER = "Sincro-Delivery"
ERROR_TEXT_LIMIT = 200
FORGET_SECRETS_EVERY_SECONDS = 60.0


# --- signatures ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sincro-Signature`` header value for ``body`` sent at ``timestamp``."""
    return sign_all([secret], timestamp, body)


def sign_all(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header with one ``v1`` signature per secret, in order (new before old)."""
    message = f"{timestamp}.".encode() + body
    macs = (hmac.new(s.encode(), message, hashlib.sha256).hexdigest() for s in secrets)
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` is a valid ``Sincro-Signature`` of the raw ``body`` under
    ``secret``, made at most ``tolerance_s`` seconds from ``now`` (default: the clock)."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, raw).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- backoff ---------------------------------------------------------------------------------


def backoff_seconds(failures: int, rng: random.Random | None = None) -> float:
    """Delay before the next attempt after ``failures`` failures in a row: "equal jitter",
    uniformly between half and all of ``min(300, 2 ** failures)`` seconds."""
    cap = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 30))
    return cap / 2 + (rng or random).uniform(0, cap / 2)


# --- delivery --------------------------------------------------------------------------------


class Dispatcher:
    """Delivers pending events to every due subscription of one database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        client: safe_http.SafeClient | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.rng = rng or random.Random()
        self.client = client or safe_http.SafeClient(
            webhook_policy(settings), f"Sincro-Webhooks/{__version__}"
        )
        self._secrets_forgotten_at = 0.0
        self.frontier = OutboxTailer(db, gap_timeout=settings.feed_gap_timeout_seconds)
        self._frontier_started = False
        self._frontier_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def safe_position(self) -> int:
        """The end of the contiguous, committed outbox: events up to it are safe to deliver."""
        with self._frontier_lock:
            if not self._frontier_started:
                with self.db.read() as session:
                    start = repo.min_active_cursor(session)
                    start = repo.max_seq(session) if start is None else start
                self.frontier.start_at(start)
                self._frontier_started = True
            for _ in range(FRONTIER_POLLS_PER_RUN):
                if len(self.frontier.poll()) < self.frontier.batch:
                    break
            return self.frontier.position

    def dispatch_all(self) -> int:
        """Deliver to every due subscription (several at once); returns events delivered."""
        self._forget_expired_secrets()
        upto = self.safe_position()
        with self.db.read() as session:
            ids = repo.due_subscription_ids(session, self.clock(), upto, MAX_DUE_PER_RUN)
        delivered = self._deliver_each(ids, upto) if ids else 0
        self._ask_again_if_behind(upto)
        return delivered

    def _deliver_each(self, ids: list[int], upto: int) -> int:
        deadline = time.monotonic() + DISPATCH_BUDGET_SECONDS
        if len(ids) == 1:
            return self.deliver(ids[0], upto, deadline)
        with ThreadPoolExecutor(min(PARALLEL_DELIVERIES, len(ids))) as pool:
            return sum(pool.map(lambda sub_id: self.deliver(sub_id, upto, deadline), ids))

    def _ask_again_if_behind(self, upto: int) -> None:
        """PostgreSQL: ask beat for another run when this one left work (module docstring)."""
        if self.db.is_sqlite:  # polled every second there
            return
        with self.db.read() as session:
            behind = repo.work_left(session, self.clock(), upto)
        if behind:
            beat.request_soon(self.db, DISPATCH_TASK)

    def _forget_expired_secrets(self) -> None:
        """Once a minute, delete secrets whose rotation overlap has ended."""
        if time.monotonic() - self._secrets_forgotten_at < FORGET_SECRETS_EVERY_SECONDS:
            return
        with self.db.write() as session:
            repo.forget_expired_secrets(session, self.clock())
        self._secrets_forgotten_at = time.monotonic()

    def deliver(self, sub_id: int, upto: int, deadline: float | None = None) -> int:
        """Deliver one subscription's pending batches under its lease; returns events sent."""
        now = time.monotonic()
        deadline = min(
            deadline or now + SUBSCRIPTION_BUDGET_SECONDS, now + SUBSCRIPTION_BUDGET_SECONDS
        )
        if now >= deadline:
            return 0
        lease = self._acquire(sub_id)
        delivered = 0
        try:
            while lease is not None:
                lease, sent = self._step(lease, upto, deadline)
                delivered += sent
        except Exception:
            log.exception("webhook delivery failed unexpectedly", extra={"subscription": sub_id})
            raise
        finally:
            if lease is not None:
                self._release(lease)
        return delivered

    def _step(self, lease: Lease, upto: int, deadline: float) -> tuple[Lease | None, int]:
        """One batch: read, POST, record. Returns the renewed lease (None when done)."""
        wanted = lease.filters
        events = read_events(
            self.db, lease.cursor, upto, wanted.sku, wanted.location, BATCH_SIZE, wanted.topics
        )
        if not events:
            if upto > lease.cursor:
                with self.db.write() as session:
                    repo.advance(session, lease, upto, None)
            return None, 0
        attempt = self._post(lease, events)
        full = len(events) == BATCH_SIZE
        if not attempt.success:
            self._record_failure(lease, attempt)
            return None, 0
        cursor = events[-1]["seq"] if full else upto
        more = full and time.monotonic() < deadline
        token = self._token() if more else None
        with self.db.write() as session:
            kept = repo.advance(session, lease, cursor, token, attempt)
        WEBHOOK_DELIVERIES.labels("success").inc()
        if not kept:
            log.warning("webhook lease lost; stopping", extra={"subscription": lease.sub_id})
            return None, len(events)
        if token is None:
            return None, len(events)
        return _moved(lease, cursor, token), len(events)

    def _post(self, lease: Lease, events: Sequence[dict[str, Any]]) -> Attempt:
        """POST one signed batch; never raises (a failure is an :class:`Attempt` too)."""
        body = orjson.dumps({"events": events})
        first, last = events[0]["seq"], events[-1]["seq"]
        at, started = self.clock(), time.perf_counter()
        signing = lease.secrets.signing(self.settings.secret_key, at)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_all(signing, int(time.time()), body),
            DELIVERY_HEADER: f"{first}-{last}",
        }
        status: int | None = None
        error: str | None = None
        try:
            reply = self.client.post(lease.url, body, headers)
        except safe_http.DeliveryFailed as exc:
            error = str(exc)
        else:
            status = reply.status
            if not 200 <= status < 300:
                error = f"HTTP {status}: {reply.summary}"[:ERROR_TEXT_LIMIT]
        duration = int((time.perf_counter() - started) * 1000)
        return Attempt(first, error is None, status, error, duration, at)

    def _record_failure(self, lease: Lease, attempt: Attempt) -> None:
        failures = lease.attempts + 1
        give_up = failures >= self.settings.webhook_max_attempts
        retry_at = (
            None
            if give_up
            else attempt.at + dt.timedelta(seconds=backoff_seconds(failures, self.rng))
        )
        with self.db.write() as session:
            repo.record_failure(session, lease, attempt, retry_at)
            if retry_at is not None:  # PostgreSQL: a run at the retry time, not the next poll
                beat.request(session, DISPATCH_TASK, (retry_at - self.clock()).total_seconds())
        WEBHOOK_DELIVERIES.labels("failure").inc()
        extra = {
            "subscription": lease.sub_id,
            "seq": attempt.first_seq,
            "failures": failures,
            "error": attempt.error,
        }
        if give_up:
            log.error("webhook deactivated after repeated failures", extra=extra)
        else:
            log.warning("webhook delivery failed; will retry", extra=extra)

    def _token(self) -> dt.datetime:
        return self.clock() + dt.timedelta(seconds=LEASE_SECONDS)

    def _acquire(self, sub_id: int) -> Lease | None:
        with self.db.write() as session:
            return repo.acquire_lease(session, sub_id, self.clock(), self._token())

    def _release(self, lease: Lease) -> None:
        with self.db.write() as session:
            repo.release_lease(session, lease)


def _moved(lease: Lease, cursor: int, token: dt.datetime) -> Lease:
    return Lease(lease.sub_id, token, lease.url, lease.secrets, lease.filters, cursor, 0)


_dispatchers: dict[str, Dispatcher] = {}
_dispatchers_lock = threading.Lock()


def dispatcher_for(db: Database, settings: Settings) -> Dispatcher:
    """The process-wide dispatcher of ``db`` (it remembers the safe outbox position)."""
    with _dispatchers_lock:
        current = _dispatchers.get(db.url)
        if current is None or current.db is not db or current.settings is not settings:
            if current is not None:
                current.close()
            current = _dispatchers[db.url] = Dispatcher(db, settings)
        return current


def dispatch_all(db: Database | None = None, settings: Settings | None = None) -> int:
    """Deliver pending events to every due subscription; returns the events delivered."""
    settings = settings or get_settings()
    db = db or database_for(settings)
    return dispatcher_for(db, settings).dispatch_all()
