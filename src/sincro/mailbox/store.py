"""All SQL of the SMTP sink's file: a small SQLite database of its own (never the product's
database), written in batches by the sink and read by the console's mailbox.

One row per accepted message: envelope, a few headers pulled out for listing and search, the
whole header block, and the body only when the sink keeps bodies. Rows are inserted in batches
by one writer thread (one transaction per batch, WAL, ``synchronous=OFF``: a sink is a test
instrument, a lost last batch after a power cut does not matter), which keeps the per-message
cost to a few microseconds of Python.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    headers BLOB NOT NULL,
    body BLOB
);
"""
FLUSH_ROWS = 2000
FLUSH_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One received message as the sink kept it."""

    id: int
    received_at: float
    mail_from: str
    rcpt_to: str
    subject: str
    message_id: str
    size: int
    headers: bytes
    body: bytes | None


Row = tuple[float, str, str, str, str, int, bytes, bytes | None]
COLUMNS = "received_at, mail_from, rcpt_to, subject, message_id, size, headers, body"


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A connection to the sink file (created with its schema when ``create``)."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    if create:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
    conn.execute("PRAGMA synchronous=OFF")
    return conn


class SinkWriter:
    """Batches rows from the SMTP handler into the file on a thread of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: queue.SimpleQueue[Row | None] = queue.SimpleQueue()
        self.written = 0
        self._conn = connect(path, create=True)
        self._thread = threading.Thread(target=self._run, name="sink-writer", daemon=True)
        self._thread.start()

    def add(self, row: Row) -> None:
        self.rows.put(row)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self.rows.put(None)
        self._thread.join(30)
        self._conn.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Row] = []
            deadline = time.monotonic() + FLUSH_SECONDS
            while len(batch) < FLUSH_ROWS:
                try:
                    item = self.rows.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                with self._conn:
                    self._conn.executemany(
                        f"INSERT INTO messages ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch
                    )
                self.written += len(batch)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page(
    conn: sqlite3.Connection, q: str, offset: int, limit: int
) -> tuple[list[StoredMessage], int]:
    """Newest first, optionally those whose recipient or subject contains ``q``; and how many."""
    where, params = "", []
    if q:
        where = "WHERE rcpt_to LIKE ? ESCAPE '\\' OR subject LIKE ? ESCAPE '\\'"
        params = [_like(q), _like(q)]
    total = conn.execute(f"SELECT count(*) FROM messages {where}", params).fetchone()[0]
    rows = conn.execute(
        f"SELECT id, {COLUMNS} FROM messages {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [StoredMessage(*row) for row in rows], int(total)


def get(conn: sqlite3.Connection, message_id: int) -> StoredMessage | None:
    row = conn.execute(f"SELECT id, {COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
    return StoredMessage(*row) if row else None


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
