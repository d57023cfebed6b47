"""CSV imports as worker jobs: the API and the console store the upload with a ``queued``
import record and send ``sincro.customers.run_import`` to the ``imports`` queue; any
``sincro worker -Q imports`` on any machine takes it.

- **Submission** (:func:`submit`): the file is checked first (encoding, header, required
  columns: an unreadable file is refused at once and nothing is stored), then the record and
  the upload are written in one transaction and the task is sent after the commit. A task
  that cannot be sent (broker down) is sent again by the sweep.
- **A run** (:func:`run_import`): claims the import (one statement: queued, or running with
  its lease run out; a second delivery of the same task finds it held or finished and does
  nothing), then runs the :class:`~sincro.customers.importer.Importer` from the record's
  cursor under the lease, renewed with every batch. The finish (``done`` or ``failed``)
  deletes the upload in its own transaction. A worker killed mid-import leaves whole batches
  and the cursor of the last one; the broker's redelivery or the sweep resumes after it.
  An import whose runs kept dying (``SINCRO_CUSTOMERS_IMPORT_MAX_ATTEMPTS`` claims) fails.
- **The sweep** (:func:`sweep`, beat, every ``SINCRO_CUSTOMERS_IMPORT_SWEEP_SECONDS``): sends
  the task again for unheld imports whose last task went out a lease ago; fails imports with
  no progress for ``SINCRO_CUSTOMERS_IMPORT_ABANDON_HOURS`` and deletes their uploads (the
  file holds personal data: it is kept no longer than its import needs it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sincro.config import Settings
from sincro.customers import repository as repo
from sincro.customers.importer import Importer, LeaseLost, this_worker
from sincro.db import Database, utcnow
from sincro.errors import SincroError

log = logging.getLogger("sincro.customers.jobs")
TASK = "sincro.customers.run_import"
QUEUE = "imports"

Enqueue = Callable[[int], None]


def importer_for(
    db: Database,
    settings: Settings,
    *,
    worker: str | None = None,
    keep_on: tuple[type[BaseException], ...] = (),
) -> Importer:
    return Importer(
        db,
        batch_lines=settings.customers_import_batch_lines,
        max_line_chars=settings.customers_import_max_line_chars,
        worker=worker,
        lease_seconds=settings.customers_import_lease_seconds,
        keep_on=keep_on,
    )


def enqueue(import_id: int, broker_url: str | None = None) -> None:
    """Send the import's task (to ``broker_url`` when it is not the worker app's own)."""
    from sincro.worker import celery_app

    if broker_url and broker_url != celery_app.conf.broker_url:
        with celery_app.connection_for_write(broker_url) as connection:
            celery_app.send_task(TASK, args=(import_id,), connection=connection)
        return
    celery_app.send_task(TASK, args=(import_id,))


def submit(
    db: Database,
    settings: Settings,
    file_name: str,
    raw: bytes,
    *,
    dry_run: bool,
    actor: str,
    send: Enqueue | None = None,
) -> int:
    """Check the file, store it with a queued import and send the task; the import's id.
    Raises :class:`~sincro.customers.exceptions.UnreadableFile` (nothing stored)."""
    importer = importer_for(db, settings)
    importer.read(raw)
    import_id = importer.new_record(
        file_name, dry_run=dry_run, actor=actor, status="queued", upload=raw
    )
    try:
        (send or (lambda i: enqueue(i, settings.broker_url)))(import_id)
    except Exception:
        log.warning("customer import %s: task not sent (the sweep sends it again)", import_id)
    return import_id


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    import_id: int
    state: str  # done | failed | held (finished, or another run holds it) | lost | retry


def run_import(
    db: Database,
    settings: Settings,
    import_id: int,
    *,
    worker: str | None = None,
    keep_on: tuple[type[BaseException], ...] = (),
) -> RunResult:
    """What the task does: claim the import and run it from its cursor. ``keep_on``: errors
    that leave it running for a retry (the task's transient ones), re-raised."""
    importer = importer_for(db, settings, worker=worker or this_worker(), keep_on=keep_on)
    lease = dt.timedelta(seconds=settings.customers_import_lease_seconds)
    with db.write() as session:
        record = repo.claim_import(session, import_id, importer.worker, lease)
        attempts = record.attempts if record is not None else 0
    if record is None:
        return RunResult(import_id, "held")
    if attempts > settings.customers_import_max_attempts:
        importer.fail(
            import_id, f"interrupted {attempts - 1} times (the worker stopped during every run)"
        )
        return RunResult(import_id, "failed")
    with db.read() as session:
        raw = repo.import_upload(session, import_id)
    if raw is None:  # the sweep gave it up meanwhile
        return RunResult(import_id, "held")
    try:
        importer.run(import_id, raw)
    except LeaseLost:
        log.warning("customer import %s: taken over by another run", import_id)
        return RunResult(import_id, "lost")
    except SincroError:
        return RunResult(import_id, "failed")  # unreadable: recorded with the reason
    return RunResult(import_id, "done")


@dataclasses.dataclass(frozen=True, slots=True)
class SweepResult:
    sent: Sequence[int]
    abandoned: Sequence[int]
    deleted: int


def sweep(
    db: Database, settings: Settings, send: Enqueue | None = None, now: dt.datetime | None = None
) -> SweepResult:
    """Send the task again for unheld imports (lost messages, killed workers whose message
    did not come back), give up those without progress for the abandon time, and delete
    uploads left by finished imports."""
    now = now or utcnow()
    lease = dt.timedelta(seconds=settings.customers_import_lease_seconds)
    progress_before = now - dt.timedelta(hours=settings.customers_import_abandon_hours)
    with db.write() as session:
        abandoned, again = repo.idle_imports(
            session, now, progress_before=progress_before, sent_before=now - lease
        )
        hours = f"{settings.customers_import_abandon_hours:g}"
        repo.abandon_imports(
            session, abandoned, f"abandoned: no progress for {hours} h; upload deleted", now
        )
        deleted = repo.delete_finished_uploads(session)
        repo.mark_enqueued(session, again, now)
    for import_id in again:
        try:
            (send or enqueue)(import_id)
        except Exception:
            log.warning("customer import %s: task not sent", import_id)
    return SweepResult(again, abandoned, deleted)
