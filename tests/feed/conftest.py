"""Fixtures of the change-feed tests: a real local webhook receiver, stock changes, waiting."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from sincro import beat
from sincro.access.models import Role
from sincro.config import Settings
from sincro.db import Database
from sincro.events import Event
from sincro.feed.webhooks import verify_signature
from sincro.inventory import service as inventory
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from tests.factories import make_key, make_location, make_product


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in json.loads(self.body)["events"]]


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that checks Sincro-Signature and records every request.

    ``secrets`` maps a path to the secret of the subscription posting there; ``fail_next``
    makes the next N requests answer 500; ``delay`` makes it answer late; ``answer`` (status,
    headers, body) replaces the answer to a validly signed request.
    """

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_next: int = 0
    delay: float = 0.0
    answer: tuple[int, dict[str, str], bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Request]:
        """Requests answered 2xx (optionally to one path), in arrival order."""
        with self.lock:
            return [r for r in self.requests if r.valid and (path is None or r.path == path)]

    def delivered_seqs(self, path: str | None = None) -> list[int]:
        return [seq for r in self.accepted(path) for seq in r.seqs]

    def reply(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status = self.handle(path, headers, body)
        return self.answer if self.answer and status == 204 else (status, {}, b"")

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        time.sleep(self.delay)
        secret = self.secrets.get(path, "")
        valid = verify_signature(secret, headers.get("Sincro-Signature", ""), body)
        with self.lock:
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
            self.requests.append(Request(path, headers, body, valid and not failing))
        if not valid:
            return 401
        return 500 if failing else 204


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, headers, answer = receiver.reply(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(answer))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def one_sku_and_admin(db: Database, settings: Settings) -> str:
    """Store LJ-A and SKU CEL-1 with one unit received (the wiped outbox's end is the
    sequence's end again), webhooks to loopback allowed; returns an admin key."""
    settings.feed_webhook_allowed_hosts = ["127.0.0.1"]  # the receiver listens on loopback
    with db.write() as s:
        make_location(s, code="LJ-A")
        make_product(s, sku="CEL-1")
        admin = make_key(s, Role.admin)
    change_stock(db, ("CEL-1", "LJ-A", 1))
    return admin


def change_stock(db: Database, *lines: tuple[str, str, int]) -> list[int]:
    """Apply receipts (sku, location, qty) in one transaction; returns the new event seqs."""
    before = last_seq(db)
    movements = [
        MovementIn(sku=sku, location=loc, quantity=qty, reason=Reason.receipt)
        for sku, loc, qty in lines
    ]
    with db.write() as session:
        inventory.apply_movements(session, "test", movements)
    with db.read() as session:
        query = select(Event.seq).where(Event.seq > before).order_by(Event.seq)
        return list(session.scalars(query))


def last_seq(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.max(Event.seq))) or 0


def wait_for(
    check: Callable[[], bool],
    timeout: float = 5.0,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``check`` until it holds; fail the test after ``timeout`` seconds.

    ``what`` may be a callable, to describe the state at the moment of failure."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.02)


@contextlib.contextmanager
def wake_requests(url: str) -> Iterator[list[str]]:
    """Payloads of ``NOTIFY sincro_wake`` (PostgreSQL: tasks asking beat for a run, see
    ``sincro.beat``) seen while the block runs; read at its end."""
    seen: list[str] = []
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"LISTEN {beat.WAKE_CHANNEL}")
        yield seen
        time.sleep(0.2)
        seen.extend(n.payload for n in conn.notifies(timeout=0.5))
