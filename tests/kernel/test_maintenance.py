"""Kernel housekeeping: SQLite's WAL truncated by a checkpoint; logs rotated by size without
taking the writer's descriptor away."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from sincro.config import Settings
from sincro.db import Database
from sincro.maintenance import checkpoint_wal, rotate_logs
from sincro.worker import beat_schedule


def test_checkpoint_truncates_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as s:
            s.execute(text("CREATE TABLE t (x TEXT)"))
        with db.read() as reader:  # a reader keeps the WAL in use meanwhile
            reader.execute(text("SELECT COUNT(*) FROM t")).one()
            for _ in range(50):
                with db.write() as s:
                    s.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 4000})
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 100_000
        busy, _, _ = checkpoint_wal(db) or (1, 0, 0)
        assert busy == 0 and wal.stat().st_size == 0
        with db.read() as s:
            assert s.execute(text("SELECT COUNT(*) FROM t")).scalar() == 50
    finally:
        db.dispose()


def test_checkpoint_is_a_noop_off_sqlite(db: Database) -> None:
    if db.write_engine.dialect.name != "sqlite":
        assert checkpoint_wal(db) is None


def test_logs_rotate_by_size_and_the_writer_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    writer = log.open("ab")  # as the supervisor opens a child's output
    writer.write(b"a" * 2000)
    writer.flush()
    (tmp_path / "small.log").write_bytes(b"b" * 10)
    for _ in range(4):
        assert rotate_logs(tmp_path, max_bytes=1000, keep=2) == [log]
        writer.write(b"c" * 2000)
        writer.flush()
    writer.write(b"tail")
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "api.log",
        "api.log.1",
        "api.log.2",
        "small.log",
    ]
    assert log.read_bytes().endswith(b"tail") and log.stat().st_size == 2004  # appended at 0


def test_housekeeping_is_on_the_beat(settings: Settings) -> None:
    schedule = beat_schedule(settings)
    if settings.is_sqlite:
        assert schedule["kernel-checkpoint-wal"]["schedule"] == settings.db_wal_checkpoint_seconds
    else:  # nothing to checkpoint: no task every minute
        assert "kernel-checkpoint-wal" not in schedule
    assert schedule["kernel-rotate-logs"]["task"] == "sincro.maintenance.rotate_logs"
    assert schedule["feed-prune"]["task"] == "sincro.feed.prune"
