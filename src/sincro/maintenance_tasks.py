"""The kernel housekeeping tasks (:mod:`sincro.maintenance`), on the ``default`` queue."""

from __future__ import annotations

from sincro.maintenance import checkpoint_wal, rotate_logs
from sincro.tasks import task


@task("sincro.maintenance.checkpoint_wal", time_limit=120)
def checkpoint_wal_task() -> list[int] | None:
    """Copy SQLite's WAL into the database and truncate it (no-op on PostgreSQL)."""
    from sincro.db import get_database

    result = checkpoint_wal(get_database())
    return list(result) if result else None


@task("sincro.maintenance.rotate_logs", time_limit=120)
def rotate_logs_task() -> list[str]:
    """Rotate ``var/log/*.log`` files past ``SINCRO_LOGS_MAX_BYTES``."""
    from sincro.config import get_settings

    settings = get_settings()
    done = rotate_logs(settings.var_dir / "log", settings.logs_max_bytes, settings.logs_keep_files)
    return [p.name for p in done]
