"""Kernel housekeeping on a timer (Celery beat, every mode): SQLite's WAL kept small, and the
service logs under ``var/log`` rotated by size.

- **WAL**: SQLite's automatic checkpoints are passive and cannot reset the write-ahead log while
  readers keep it in use (the feed polls several times a second), so under a steady load the
  WAL only grows (376 MB after 21 minutes of the demo). :func:`checkpoint_wal` runs
  ``PRAGMA wal_checkpoint(TRUNCATE)`` every ``db_wal_checkpoint_seconds``: it waits (busy
  timeout) for a moment without readers on old frames, copies the log into the database and
  truncates it to zero bytes. No-op on PostgreSQL.
- **Logs**: a child of ``sincro serve``/``sincro demo`` appends to ``var/log/<service>.log``
  (opened in append mode). :func:`rotate_logs` copies a file past ``logs_max_bytes`` to
  ``<name>.log.1`` (older copies shift up to ``logs_keep_files``) and truncates it in place, so
  the writer keeps its descriptor and simply continues at the start.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from sincro.config import Settings
from sincro.db import Database

log = logging.getLogger("sincro.maintenance")


def checkpoint_wal(db: Database) -> tuple[int, int, int] | None:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` on SQLite: (busy, log frames, checkpointed frames);
    None on other databases."""
    if db.write_engine.dialect.name != "sqlite":
        return None
    with db.write_engine.connect() as conn:
        # on the driver's connection: outside any transaction (the engine would BEGIN first)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            row = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cursor.close()
    return int(row[0]), int(row[1]), int(row[2])


def rotate_logs(log_dir: Path, max_bytes: int, keep: int) -> list[Path]:
    """Rotate every ``*.log`` of ``log_dir`` larger than ``max_bytes`` (copy, then truncate in
    place), keeping ``keep`` older copies. Returns the rotated files."""
    rotated = []
    for path in sorted(log_dir.glob("*.log")) if log_dir.is_dir() else []:
        try:
            if path.stat().st_size <= max_bytes:
                continue
        except FileNotFoundError:
            continue
        for n in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        with path.open("r+b") as live:
            with path.with_name(f"{path.name}.1").open("wb") as copy:
                shutil.copyfileobj(live, copy)
            live.truncate(0)
        rotated.append(path)
    return rotated


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """The kernel's beat entries (read by :func:`sincro.worker.beat_schedule`); the WAL
    checkpoint only on SQLite (elsewhere the task does nothing)."""
    entries: dict[str, dict[str, Any]] = {
        "kernel-rotate-logs": {"task": "sincro.maintenance.rotate_logs", "schedule": 60.0},
    }
    if settings.is_sqlite:
        entries["kernel-checkpoint-wal"] = {
            "task": "sincro.maintenance.checkpoint_wal",
            "schedule": settings.db_wal_checkpoint_seconds,
        }
    return entries
