"""``sincro signup watch``: the IMAP side of the sign-up service.

The watcher logs in (imapclient), makes sure the processed folder exists, and handles every
message in the inbox, then waits with IDLE (renewed every ``signup_poll_seconds``) or, on a
server without IDLE, polls at that interval. A lost connection is re-opened after 1 s, 2 s,
4 s … (60 s at most).

Each message goes through the same crash-safe steps, so the inbox is never left
half-processed and a crash anywhere resumes cleanly:

1. fetch its size and a few headers (never the body of a message over the size cap);
2. look its Message-ID up: not seen yet → **record** the row and **register** the customer in
   one transaction (a second delivery of the same Message-ID finds the row);
3. **send** the answer that is due, with the Message-ID chosen at step 2, then mark it sent;
4. **move** the message to the processed folder.

A restart after step 2 sends the answer (once) and moves; after step 3 it only moves. A
temporary SMTP failure leaves the message in the inbox for the next round (its row stays,
so nothing is registered twice). Logs carry ids and outcomes, never addresses or documents.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.exc import IntegrityError

from sincro.config import Settings
from sincro.db import Database
from sincro.mail import Delivery, Mailer
from sincro.signup import inbound as reader, service
from sincro.signup.inbound import Inbound

log = logging.getLogger("sincro.signup")

HEADER_FIELDS = (
    "MESSAGE-ID FROM REPLY-TO SUBJECT REFERENCES AUTO-SUBMITTED PRECEDENCE RETURN-PATH "
    "X-AUTOREPLY X-AUTORESPOND LIST-ID CONTENT-TYPE"
)
MAX_HEADER_BYTES = 65_536  # of those headers, even on a message over the size cap
HEADERS_ITEM = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]<0.{MAX_HEADER_BYTES}>"
BATCH = 50
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ImapTarget:
    """Where the sign-up inbox is: ``imap://user:pass@host:port/INBOX`` (``imaps://`` for
    TLS from the start, ``?starttls=1`` to upgrade)."""

    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str
    password: str
    folder: str

    @classmethod
    def from_url(cls, url: str) -> ImapTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError("the sign-up inbox URL must start with imap:// or imaps://")
        if not parts.username:
            raise ValueError("the sign-up inbox URL names no user (imap://user:pass@host/INBOX)")
        options = {k: v[0] for k, v in parse_qs(parts.query).items()}
        secure = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (993 if secure else 143),
            ssl=secure,
            starttls=options.get("starttls", "0").lower() in ("1", "true", "yes"),
            username=unquote(parts.username),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )


@dataclass
class RoundStats:
    seen: int = 0
    recorded: int = 0
    replied: int = 0
    moved: int = 0
    deferred: int = 0


class SignupWatcher:
    """Handles a sign-up inbox; :meth:`process_inbox` is one round, :meth:`run` the loop."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        target: ImapTarget,
        mailer: Mailer,
        connect_timeout: float = 30.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.target = target
        self.mailer = mailer
        self.connect_timeout = connect_timeout
        self.processed_folder = settings.signup_processed_folder
        self.first_backoff_seconds = 1.0
        self.max_backoff_seconds = MAX_BACKOFF_SECONDS

    # --- connection -------------------------------------------------------------------------

    def connect(self) -> Any:
        from imapclient import IMAPClient

        t = self.target
        client = IMAPClient(t.host, port=t.port, ssl=t.ssl, timeout=self.connect_timeout)
        try:
            if t.starttls:
                client.starttls()
            client.login(t.username, t.password)
            if not client.folder_exists(self.processed_folder):
                client.create_folder(self.processed_folder)
            client.select_folder(t.folder)
        except BaseException:
            _close(client)
            raise
        return client

    # --- one round --------------------------------------------------------------------------

    def process_inbox(self, client: Any) -> RoundStats:
        """Handle every message now in the inbox, oldest first."""
        stats = RoundStats()
        uids = sorted(client.search(["NOT", "DELETED"]))
        for start in range(0, len(uids), BATCH):
            chunk = uids[start : start + BATCH]
            items = client.fetch(chunk, ["RFC822.SIZE", HEADERS_ITEM])
            done: list[int] = []
            for uid in chunk:
                data = items.get(uid)
                if data is None:  # expunged meanwhile
                    continue
                stats.seen += 1
                if self.handle(client, uid, data, stats):
                    done.append(uid)
            if done:
                self.move(client, done)
                stats.moved += len(done)
        return stats

    def handle(self, client: Any, uid: int, data: dict[bytes, Any], stats: RoundStats) -> bool:
        """Record, register and answer one message; True when it may be moved."""
        size = int(data.get(b"RFC822.SIZE") or 0)
        headers = _header_bytes(data)
        first = reader.read_headers(headers, self.settings.signup_address)
        too_big = size > self.settings.signup_max_message_bytes
        message: Inbound = first
        with self.db.read() as session:
            row = service.find(session, first.key)
            pending = (
                row is not None and row.reply_message_id is not None and row.replied_at is None
            )
        if (row is None and not too_big and not first.automatic) or (pending and not too_big):
            message = replace(self._full(client, uid), key=first.key)
        if row is None:
            try:
                with self.db.write() as session:
                    outcome = service.record(session, message, self.settings, too_big=too_big)
            except IntegrityError:  # another watcher recorded it first: only move
                log.info("signup message uid %s already recorded elsewhere", uid)
                return True
            stats.recorded += 1
            log.info("signup message uid %s: %s (row %s)", uid, outcome.outcome, outcome.row_id)
            if not outcome.reply_due:
                return True
        return self._answer(message, stats)

    def _full(self, client: Any, uid: int) -> Inbound:
        raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]") or b""
        return reader.read(
            bytes(raw)[: self.settings.signup_max_message_bytes + 1], self.settings.signup_address
        )

    def _answer(self, message: Inbound, stats: RoundStats) -> bool:
        with self.db.read() as session:
            row = service.find(session, message.key)
            reply = service.reply_for(session, row, message, self.settings) if row else None
        if row is None or reply is None:
            return True
        result = self.mailer.send(reply)
        if result.delivery is Delivery.TEMPORARY:
            log.warning(
                "signup reply for row %s deferred: %s %s", row.id, result.code, result.detail
            )
            stats.deferred += 1
            return False  # stays in the inbox; the next round sends it
        if not result.ok:
            log.warning("signup reply for row %s refused: %s", row.id, result.code)
        with self.db.write() as session:
            service.mark_replied(session, row.id)
        stats.replied += 1
        return True

    def move(self, client: Any, uids: Iterable[int]) -> None:
        """Move handled messages to the processed folder (MOVE, else COPY + expunge)."""
        uids = list(uids)
        if client.has_capability("MOVE"):
            client.move(uids, self.processed_folder)
            return
        client.copy(uids, self.processed_folder)
        client.delete_messages(uids)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    # --- the loop ---------------------------------------------------------------------------

    def wait(self, client: Any, stop: threading.Event) -> None:
        """Until new mail, ``signup_poll_seconds`` or ``stop``: IDLE when the server has it."""
        poll = self.settings.signup_poll_seconds
        if not client.has_capability("IDLE"):
            stop.wait(poll)
            client.noop()
            return
        client.idle()
        try:
            deadline = time.monotonic() + poll
            while not stop.is_set() and time.monotonic() < deadline:
                responses = client.idle_check(
                    timeout=min(1.0, max(0.05, deadline - time.monotonic()))
                )
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    break
        finally:
            client.idle_done()

    def run(
        self, stop: threading.Event, on_round: Callable[[RoundStats], None] | None = None
    ) -> None:
        """Watch until ``stop`` is set, reconnecting with backoff when the server goes away."""
        backoff = self.first_backoff_seconds
        while not stop.is_set():
            client = None
            try:
                client = self.connect()
                backoff = self.first_backoff_seconds
                while not stop.is_set():
                    stats = self.process_inbox(client)
                    if on_round is not None:
                        on_round(stats)
                    self.wait(client, stop)
            except Exception as exc:  # the server went away, refused us, or answered nonsense
                log.warning(
                    "signup inbox: %s: %s; retrying in %.0f s", type(exc).__name__, exc, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
            finally:
                if client is not None:
                    _close(client)


def _header_bytes(data: dict[bytes, Any]) -> bytes:
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER"):
            return bytes(value or b"")
    return b""


def _close(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone
        with contextlib.suppress(Exception):
            client.shutdown()
