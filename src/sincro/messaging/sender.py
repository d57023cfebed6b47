"""The e-mail worker's side: claim ledger rows, render, send over one reused SMTP connection
at the shared rate, and write each outcome right after its SMTP call.

**Why nothing is sent twice.** A row is moved ``pending → sending`` under a claim token in one
conditional statement *before* its SMTP call (two workers cannot both claim it), and its outcome
is written right after that call, one row at a time, in id order, and committed *before the
next message's final dot* (on PostgreSQL a ``sent`` outcome commits while the next message is
rendered and its envelope and body go out: ``outcome_line.py``; SQLite commits it at once). A
worker that dies leaves at most its current claim in ``sending``; the reaper (:func:`reap`)
returns those rows to ``pending`` after the lease. Of a dead claim's rows, only the lowest id
can have been taken by the SMTP server without its outcome committed (the ones before it were
committed before its dot, the ones after it never got their dot), so only that one is marked
``in_doubt``: it is sent again with the same Message-ID (receivers see one message), and
counted as in doubt.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import WATCHDOG_MARGIN_SECONDS, Database, statement_limit, utcnow
from sincro.mail import Delivery, Mailer, SendResult, SmtpSettings
from sincro.messaging import compose, metrics, repository as repo, templates as tpl
from sincro.messaging.models import LedgerEntry, TemplateVersion
from sincro.messaging.outcome_line import OutcomeLine
from sincro.messaging.service import RUNNING
from sincro.sharedstate import SharedState

log = logging.getLogger("sincro.messaging.sender")
STATE_CHECK_EVERY = 10  # messages between two reads of the campaign's state
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class BatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0
    deferred: int = 0
    stopped: bool = False  # the campaign left ``running`` during the batch
    outcomes: dict[int, str] = field(default_factory=dict)


def new_token() -> str:
    return f"{WORKER_ID}:{uuid.uuid4().hex[:12]}"[:120]


def relay_key(settings: Settings) -> str:
    smtp = SmtpSettings.from_settings(settings)
    where = f"{smtp.host}:{smtp.port or 25}" if smtp else "none"
    return f"messaging:relay:{where}"


# Why a claimed row must not go now (NULL: it may), read in the claim's own statement: no
# consent to e-mail for the row's purpose, or its address suppressed for it (or for all).
WITHHELD = repo.withheld_reason(
    customers.consent_clause(LedgerEntry.customer_id, channel="email", purpose=LedgerEntry.purpose),
    customers.suppression_clause(LedgerEntry.email, purpose=LedgerEntry.purpose),
)


LEASE_SECONDS = 0.01  # a token lease covers at most this much of a bucket's rate
LEASE_MAX = 10


def lease_size(rate: float) -> int:
    """How many tokens one take may lease: at most 10 ms of the rate (so leases add at most
    1% of the rate to any one-second window, plus what the workers hold), 1 below 200/s."""
    return max(1, min(LEASE_MAX, int(rate * LEASE_SECONDS)))


class TokenLease:
    """Tokens taken from the relay's bucket (every worker of the deployment) and, when the
    campaign is slower, from the campaign's bucket, a few at a time: a fast relay costs one
    Redis round trip per lease instead of per message. Unused tokens are simply dropped."""

    def __init__(
        self,
        shared: SharedState,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.shared, self.settings, self.sleep = shared, settings, sleep
        self._held: dict[int, int] = {}  # campaign -> tokens in hand

    def buckets(self, campaign_id: int, rate: float) -> list[tuple[str, float]]:
        global_rate = self.settings.messaging_rate_per_second
        found = [(relay_key(self.settings), global_rate)]
        if rate < global_rate:
            found.insert(0, (f"messaging:campaign:{campaign_id}", rate))
        return found

    def wait(self, campaign_id: int, rate: float, wanted: int = 1) -> None:
        """Block until one token is in hand for ``campaign_id`` (leasing up to ``wanted``)."""
        if self._held.get(campaign_id, 0) > 0:
            self._held[campaign_id] -= 1
            return
        buckets = self.buckets(campaign_id, rate)
        size = max(1, min(wanted, *(lease_size(r) for _, r in buckets)))
        burst = self.settings.messaging_rate_burst
        for key, per_second in buckets:
            capacity = max(burst, float(size), 1.0)
            while (pause := self.shared.take(key, per_second, capacity, float(size))) > 0:
                self.sleep(min(pause, 1.0))
        self._held[campaign_id] = size - 1

    def drop(self) -> None:
        self._held.clear()


def in_quiet_hours(zone: str, settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """When the recipient's local time is in the quiet hours, the moment they end (UTC)."""
    start, end = settings.messaging_quiet_start, settings.messaging_quiet_end
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(zone))
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += dt.timedelta(days=1)
    return morning.astimezone(dt.UTC)


def respects_quiet(purpose: str, settings: Settings) -> bool:
    return purpose == "marketing" or (purpose == "billing" and settings.messaging_quiet_billing)


class Sender:
    """One worker process's sending machinery (a Mailer kept open across batches)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        shared: SharedState,
        mailer: Mailer | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        before_send: Callable[[LedgerEntry], None] | None = None,
    ) -> None:
        self.db, self.settings, self.shared = db, settings, shared
        smtp = SmtpSettings.from_settings(settings)
        if mailer is None:
            if smtp is None:
                raise RuntimeError("SINCRO_SMTP_URL is not set: messaging cannot send")
            mailer = Mailer(smtp)
        self.mailer = mailer
        self.sleep = sleep
        self.before_send = before_send  # tests: a hook just before each SMTP call
        self.tokens = TokenLease(shared, settings, sleep)
        self._versions: dict[int, TemplateVersion] = {}
        self._campaigns: dict[int, Any] = {}  # id -> what sending needs of it (sending_campaign)
        self._conn: Connection | None = None
        self._line: OutcomeLine | None = None  # PostgreSQL: the chunk's outcomes in flight
        # PostgreSQL: outcomes as single autocommit statements on the chunk's connection
        self._autocommit = not db.is_sqlite
        self._lock = threading.Lock()

    def close(self) -> None:
        self.mailer.close()

    def run_batch(self, campaign_id: int, ids: Sequence[int]) -> BatchResult:
        """Send what is still pending among ``ids``, claiming ``messaging_claim_size`` rows at
        a time, and stop as soon as the campaign is no longer running."""
        result = BatchResult()
        remaining = sorted(set(ids))
        while remaining:
            chunk, remaining = (
                remaining[: self.settings.messaging_claim_size],
                remaining[self.settings.messaging_claim_size :],
            )
            if not self._run_chunk(campaign_id, chunk, result):
                result.stopped = True
                break
        return result

    def _run_chunk(self, campaign_id: int, ids: list[int], result: BatchResult) -> bool:
        token = new_token()
        now = utcnow()
        # One connection for the chunk: its claim and its outcomes (a pool checkout per message
        # would cost more than the UPDATE itself). The claim is ONE statement that also reads
        # the campaign's state, the recipients' consent and the suppression list (rows
        # withheld go straight to ``suppressed``): on PostgreSQL it runs on the autocommit
        # connection, one round trip for the chunk. Each outcome is ONE autocommit statement
        # (a single conditional UPDATE is atomic on its own), and a ``sent`` one is not
        # waited for: it commits while the next message is rendered and handed to SMTP, and
        # is collected before that message's final dot (outcome_line.py). SQLite keeps its
        # explicit BEGIN IMMEDIATE, synchronous (no network, no WAL flush to hide).
        with self.db.write_engine.connect() as plain:
            conn = plain
            if self._autocommit:
                conn = plain.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
            try:
                rows = self._atomic(
                    repo.claim,
                    ids,
                    token=token,
                    now=now,
                    running=RUNNING,
                    withheld=WITHHELD,
                )
                if not rows:  # nothing taken: stopped, or nothing of these left to send
                    return self._still_running(campaign_id)
                rows = self._screen(rows, token, now, result)
                campaign = self._campaign(campaign_id)
                versions = self._load_versions({r.template_version_id for r in rows})
                metrics.CLAIMED.inc(len(rows))
                if self._autocommit:
                    wait = statement_limit(self.db.timeouts) + WATCHDOG_MARGIN_SECONDS
                    self._line = OutcomeLine(conn, wait)
                for index, row in enumerate(rows):
                    if (
                        index
                        and index % STATE_CHECK_EVERY == 0
                        and not self._still_running(campaign_id)
                    ):
                        self._collect()
                        self._atomic(repo.release, [r.id for r in rows[index:]], token)
                        return False
                    version = versions[row.template_version_id]
                    self._send_one(campaign, row, version, token, result, len(rows) - index)
                self._collect()  # the chunk's last outcome, before its connection goes back
            except BaseException:
                if self._line is not None and not self._line.settle():
                    plain.invalidate()  # a reply half read: the connection is unusable
                raise
            finally:
                self._conn = self._line = None
                self.tokens.drop()  # a lease never outlives its chunk
        return True

    def _atomic(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``write(conn, …)`` committed on the chunk's connection: one statement on its own
        (PostgreSQL, autocommit) or in a BEGIN IMMEDIATE … COMMIT (SQLite)."""
        conn = self._conn
        assert conn is not None
        if self._autocommit:
            return write(conn, *args, **kwargs)
        with conn.begin():
            return write(conn, *args, **kwargs)

    def _collect(self) -> None:
        """Wait for the outcome in flight (PostgreSQL) to be committed: before the next
        message's final dot, and before anything else uses the chunk's connection."""
        if self._line is not None:
            self._line.collect()

    def _still_running(self, campaign_id: int) -> bool:
        if self._line is not None and self._line.state is not None:
            # the state the latest collected outcome returned (since the previous check)
            state, self._line.state = self._line.state, None
            return state in RUNNING
        self._collect()
        if self._autocommit and self._conn is not None:  # one round trip on the chunk's line
            return repo.campaign_states(self._conn, [campaign_id]).get(campaign_id) in RUNNING
        with self.db.read() as session:
            return repo.campaign_states(session, [campaign_id]).get(campaign_id) in RUNNING

    def _campaign(self, campaign_id: int) -> Any:
        """The campaign's name, From, Reply-To and rate (fixed at its creation: kept)."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            campaign = self._campaigns[campaign_id] = self._atomic(
                repo.sending_campaign, campaign_id
            )
        return campaign

    def _load_versions(self, wanted: set[int]) -> dict[int, TemplateVersion]:
        missing = wanted - self._versions.keys()
        if missing:
            self._versions.update(self._atomic(repo.versions_by_id, missing))
        return {v: self._versions[v] for v in wanted}

    def _screen(
        self, rows: list[LedgerEntry], token: str, now: dt.datetime, result: BatchResult
    ) -> list[LedgerEntry]:
        """Count the rows the claim withheld (consent withdrawn or address suppressed since
        the audience was read: claimed straight into ``suppressed``) and defer those whose
        recipient is in quiet hours; the rest are sent now."""
        keep: list[LedgerEntry] = []
        mornings: dict[dt.datetime, list[int]] = {}
        for row in rows:
            if row.status == "suppressed":
                result.suppressed += 1
                result.outcomes[row.id] = "suppressed"
                continue
            if respects_quiet(row.purpose, self.settings):
                morning = in_quiet_hours(row.time_zone, self.settings, now)
                if morning is not None:
                    mornings.setdefault(morning, []).append(row.id)
                    result.deferred += 1
                    result.outcomes[row.id] = "deferred"
                    continue
            keep.append(row)
        for morning, deferred in mornings.items():
            self._atomic(repo.release, deferred, token, next_attempt_at=morning)
        return keep

    def _send_one(
        self,
        campaign: Any,
        row: LedgerEntry,
        version: TemplateVersion,
        token: str,
        result: BatchResult,
        left: int = 1,
    ) -> None:
        """Render, send and record one row; ``left``: rows of the chunk still to send, this one
        included (how many tokens a lease may take)."""
        settings = self.settings
        started = time.perf_counter()
        try:
            message = compose.row_message(settings, campaign, row, version)
        except (tpl.TemplateProblem, ValueError) as exc:
            self._finish(row, token, status="failed", last_error=f"render: {exc}"[:500])
            result.failed += 1
            result.outcomes[row.id] = "failed"
            metrics.FAILED.labels("render").inc()
            return
        envelope = None
        if settings.messaging_bounce_domain:
            envelope = compose.verp_address(
                settings.secret_key, row.id, settings.messaging_bounce_domain
            )
        self.tokens.wait(row.campaign_id, campaign.rate_per_second, left)
        if self.before_send is not None:
            self.before_send(row)
        # the previous row's outcome is committed before this message's final dot
        before_dot = self._collect if self._line is not None else None
        sent = self.mailer.send(message, envelope_from=envelope, before_dot=before_dot)
        self._collect()  # the gate did not run when the server refused before DATA
        metrics.SEND_SECONDS.observe(time.perf_counter() - started)
        self._record(row, token, message.message_id, sent, result)

    def _record(
        self, row: LedgerEntry, token: str, msg_id: str, sent: SendResult, result: BatchResult
    ) -> None:
        now = utcnow()
        detail = (sent.detail or "")[:500] or None
        if sent.delivery is Delivery.SENT:
            if self._line is not None:  # committed while the next message goes out
                self._line.send_sent(
                    row.id, token, sent_at=now, message_id=msg_id, last_code=sent.code
                )
            else:
                self._write(
                    repo.finish_sent,
                    row,
                    token,
                    sent_at=now,
                    message_id=msg_id,
                    last_code=sent.code,
                )
            result.sent += 1
            result.outcomes[row.id] = "sent"
            metrics.SENT.labels(row.purpose).inc()
            return
        if (
            sent.delivery is Delivery.TEMPORARY
            and row.attempts < self.settings.messaging_max_attempts
        ):
            delay = self.settings.messaging_retry_base_seconds * 2 ** (row.attempts - 1)
            self._finish(
                row,
                token,
                status="pending",
                next_attempt_at=now + dt.timedelta(seconds=delay),
                last_code=sent.code,
                last_error=detail,
                claimed_by=None,
            )
            result.retried += 1
            result.outcomes[row.id] = "retry"
            metrics.FAILED.labels("temporary").inc()
            return
        kind = "permanent" if sent.delivery is Delivery.PERMANENT else "exhausted"
        with self.db.write() as session:
            repo.finish(
                session,
                row.id,
                token,
                status="failed",
                message_id=msg_id,
                last_code=sent.code,
                last_error=detail or kind,
            )
            if sent.delivery is Delivery.PERMANENT and sent.refused and row.email:
                # the mailbox was refused (5xx at RCPT): a hard bounce, for every purpose
                customers.suppress(
                    session,
                    row.email,
                    reason="hard_bounce",
                    purpose="*",
                    detail=(detail or "")[:200],
                )
        result.failed += 1
        result.outcomes[row.id] = "failed"
        metrics.FAILED.labels(kind).inc()

    def _finish(self, row: LedgerEntry, token: str, **values: Any) -> None:
        self._write(repo.finish, row, token, **values)

    def _write(
        self, write: Callable[..., bool], row: LedgerEntry, token: str, **values: Any
    ) -> None:
        """One outcome, committed: on the chunk's connection (autocommit on PostgreSQL)."""
        self._collect()
        if self._conn is None:
            with self.db.write() as session:
                write(session, row.id, token, **values)
            return
        self._atomic(write, row.id, token, **values)


# --- the reaper and the pump (beat) ---------------------------------------------------------


def reap(db: Database, settings: Settings, now: dt.datetime | None = None) -> int:
    """Return rows stuck in ``sending`` past the lease to ``pending``; the lowest of each dead
    claim is marked in doubt (see the module docstring). Returns how many were returned."""
    now = now or utcnow()
    with db.write() as session:
        stale = repo.stale_claims(
            session, now - dt.timedelta(seconds=settings.messaging_lease_seconds)
        )
        if not stale:
            return 0
        first: dict[str, int] = {}
        for entry_id, token in stale:
            first[token] = min(entry_id, first.get(token, entry_id))
        repo.reap(session, [i for i, _ in stale], list(first.values()), now)
    metrics.REAPED.inc(len(stale))
    log.warning("returned %d rows from dead claims (%d in doubt)", len(stale), len(first))
    return len(stale)
