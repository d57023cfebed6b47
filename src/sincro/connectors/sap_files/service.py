"""The file ledger of a SAP file-drop source: register, process, archive, quarantine, replay.

Life of an inbound file (``erp_files``):

- :func:`register_file` (the watcher, ``scan_inbox``, ``sincro sync ingest``): name, size,
  SHA-256 and kind (from the content, then the name) -> ``received``. The same bytes again for
  the source (a file in state received/processing/done/superseded with the same SHA-256) are a
  no-op: a row in state ``duplicate`` and the file moved to the archive. The same path seen
  again while it waits or is processed is the same drop (nothing new is recorded).
- :func:`process_file` (task ``sincro.connectors.ingest.process_file``): one file of a source
  at a time (advisory lock / flock), movement and acknowledgement files received before a
  snapshot are processed before it; rows apply in chunks, each chunk one transaction with
  ``next_line``, so a killed worker resumes where it stopped and applies nothing twice.
  Done -> moved to ``archive/<id>_<name>``; a file that cannot be read at all -> moved whole
  to ``quarantine/<id>_<name>`` with ``<id>_<name>.reason.txt``, state ``failed``, alert
  ``file_failed``; an older snapshot -> ``superseded`` (archived, not applied).
- :func:`replay_file` (console's replay button, ``sincro sync replay``): a failed file that was
  put back (corrected in the inbox, or still in quarantine: moved back) is reset to
  ``received`` and queued again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.models import ErpFile, FileState, RunStatus, SyncRun, SyncSource
from sincro.connectors.sap_files import movements, repository as repo, snapshot, writeback
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import (
    PARSE_ERRORS,
    FileFormatError,
    check_text,
    detect_kind,
    parse_error_reason,
)
from sincro.connectors.sap_files.mapping import Mapper
from sincro.connectors.sap_files.readiness import Readiness
from sincro.db import Database, on_commit, utcnow
from sincro.errors import Conflict, InvalidInput, NotFound
from sincro.inventory import snapshots

log = logging.getLogger("sincro.connectors.sap_files")
Progress = Callable[[int, int], None]
ENTITIES = {"snapshot": snapshot.ENTITY, "movements": movements.ENTITY, "ack": writeback.ENTITY}


@dataclass
class Outcome:
    file_id: int
    state: str
    kind: str
    rows_total: int = 0
    rows_applied: int = 0
    rows_rejected: int = 0
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _outcome(f: ErpFile, **details: Any) -> Outcome:
    return Outcome(
        f.id, f.state, f.kind, f.rows_total, f.rows_applied, f.rows_rejected, f.error, details
    )


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# --- registering -------------------------------------------------------------------------------


def register_file(
    session: Session, cfg: SapFilesSource, path: Path, readiness: Readiness | None = None
) -> ErpFile:
    """Record a complete file of the inbox (state ``received``) or its re-drop (``duplicate``)."""
    repo.ensure_source(session, cfg)
    sha, size = sha256_of(path)
    previous = repo.same_bytes(session, cfg.code, sha)
    for existing in previous:
        if existing.path == str(path) and existing.state in (
            FileState.received,
            FileState.processing,
        ):
            return existing  # the same drop, seen again while it waits
    erp_file = ErpFile(
        source=cfg.code,
        direction="in",
        kind=detect_kind(path),
        name=path.name,
        path=str(path),
        size=size,
        sha256=sha,
        state=FileState.received.value,
        received_at=utcnow(),
    )
    session.add(erp_file)
    session.flush()
    reason = _duplicate_reason(session, cfg, sha, previous)
    if reason:
        erp_file.state = FileState.duplicate.value
        erp_file.error = reason
        erp_file.finished_at = utcnow()
        erp_file.path = str(
            _move(path, cfg.archive_dir, f"{erp_file.id:08d}_{path.name}", readiness)
        )
    return erp_file


def _duplicate_reason(
    session: Session, cfg: SapFilesSource, sha: str, live: Sequence[ErpFile]
) -> str | None:
    """Why a drop is a no-op: the same bytes as a file taken (or being taken), or as a file
    that failed (the same bytes would fail again: correct the file, or replay the failed one)."""
    if live:
        return f"same bytes as file {live[0].id} ({live[0].name})"
    failed = repo.same_bytes(session, cfg.code, sha, (FileState.failed,))
    if not failed:
        return None
    first = failed[0]
    return (
        f"same bytes as failed file {first.id} ({first.name}: {first.error}); drop a corrected"
        f" file, or replay file {first.id}"
    )


def _move(path: Path, folder: Path, name: str, readiness: Readiness | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.move(str(path), target)
    markers = readiness.markers(path) if readiness else _default_markers(path)
    for marker in markers:
        shutil.move(str(marker), folder / f"{name}{marker.name[len(path.name) :] or marker.suffix}")
    return target


def _default_markers(path: Path) -> list[Path]:
    names = (path.name + ".done", path.name + ".ok", path.stem + ".ok", path.stem + ".done")
    return [path.with_name(n) for n in dict.fromkeys(names) if path.with_name(n).exists()]


# --- processing --------------------------------------------------------------------------------


def process_file(
    db: Database,
    cfg: SapFilesSource,
    file_id: int,
    *,
    trigger: str = "event",
    progress: Progress | None = None,
) -> Outcome:
    """Process one registered file (and, for a snapshot, the movement/ack files received
    before it). Safe to call again for a file being or already processed. A long job: its
    statements may run up to the long statement limit (a snapshot reconciles every position)."""
    with db.long(), repo.connection(db) as conn, repo.source_lock(conn, cfg):
        with repo.tx(conn) as session:
            erp_file = session.get(ErpFile, file_id)
            if erp_file is None or erp_file.source != cfg.code:
                raise NotFound(f"no file {file_id} for source {cfg.code}", field="file_id")
            earlier = (
                repo.pending_files(session, cfg.code, before=file_id, kinds=("movements", "ack"))
                if erp_file.kind == "snapshot"
                else []
            )
        for other in earlier:
            _process_locked(conn, cfg, other, trigger, None)
        return _process_locked(conn, cfg, file_id, trigger, progress)


def _process_locked(
    conn: Connection, cfg: SapFilesSource, file_id: int, trigger: str, progress: Progress | None
) -> Outcome:
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        if erp_file.state not in (FileState.received, FileState.processing):
            return _outcome(erp_file)
        path = Path(erp_file.path or "")
        archived = cfg.archive_dir / f"{erp_file.id:08d}_{erp_file.name}"
        if not path.exists() and archived.exists():  # crashed between the move and the commit
            _finish(session, erp_file, cfg, archived, FileState.done)
            return _outcome(erp_file)
        if not path.exists():
            erp_file.state = FileState.failed.value
            erp_file.error = f"file not found: {path}"
            erp_file.finished_at = utcnow()
            _alert_failed(session, cfg, erp_file)
            return _outcome(erp_file)
        resuming = erp_file.state == FileState.processing
        erp_file.state = FileState.processing.value
        erp_file.started_at = erp_file.started_at or utcnow()
        if resuming:
            _close_interrupted_runs(session, cfg, erp_file)
        run = SyncRun(
            source=cfg.code,
            entity=ENTITIES.get(erp_file.kind, erp_file.kind),
            trigger="replay" if resuming and trigger == "event" else trigger,
            status=RunStatus.running.value,
            started_at=utcnow(),
            progress_total=erp_file.rows_total or None,
        )
        session.add(run)
        session.flush()
        run_id, kind = run.id, erp_file.kind
        source = session.get(SyncSource, cfg.code)
        if source is not None:
            source.last_run_at = utcnow()

    def report(done: int, total: int) -> None:
        with repo.tx(conn) as s:
            s.execute(
                update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(progress_done=done, progress_total=total)
            )
        if progress:
            progress(done, total)

    details: dict[str, Any] = {}
    try:
        if kind == "snapshot":
            result = _process_snapshot(conn, cfg, file_id, path, run_id, report)
            details = {
                "as_of": result.as_of,
                "report_id": result.report_id,
                "missing_positions": result.missing_positions,
                "negative_positions": result.negative_positions,
            }
            final = FileState.superseded if result.superseded else FileState.done
        elif kind == "movements":
            moved = movements.apply_file(conn, cfg, file_id, path, run_id, report)
            details = {"skipped": moved.skipped, "gaps": moved.gaps}
            final = FileState.done
        elif kind == "ack":
            writeback.apply_ack_file(conn, cfg, file_id, path, run_id, report)
            final = FileState.done
        else:
            check_text(path)
            raise FileFormatError(
                f"{path.name}: not a stock snapshot, WMMBXY goods movements or an acknowledgement"
            )
    except PARSE_ERRORS as exc:  # the file is at fault: set it aside whole, go on with the next
        log.warning("file quarantined", extra={"file_id": file_id, "reason": str(exc)})
        return _quarantine(conn, cfg, file_id, run_id, path, parse_error_reason(exc))
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        target = _move(path, cfg.archive_dir, archived.name)
        _finish(session, erp_file, cfg, target, final)
        run_row = session.get(SyncRun, run_id)
        assert run_row is not None
        run_row.status = (
            RunStatus.partial if erp_file.rows_rejected else RunStatus.succeeded
        ).value
        run_row.finished_at = utcnow()
        run_row.records_in = erp_file.rows_total
        run_row.records_applied = erp_file.rows_applied
        run_row.records_rejected = erp_file.rows_rejected
        source = session.get(SyncSource, cfg.code)
        if source is not None:
            source.last_success_at = utcnow()
            source.status = "ok"
            source.last_error = None
            if kind == "snapshot" and final == FileState.done:
                source.data_as_of = max(filter(None, [source.data_as_of, erp_file.as_of]))
        return _outcome(erp_file, **details)


def _process_snapshot(
    conn: Connection,
    cfg: SapFilesSource,
    file_id: int,
    path: Path,
    run_id: int,
    progress: Progress,
) -> snapshot.SnapshotResult:
    reader = snapshot.open_reader(cfg, path)  # FileFormatError: nothing touched yet
    as_of = reader.as_of
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        erp_file.as_of = as_of
        start = erp_file.next_line
        newer = snapshot.newer_applied(session, cfg, as_of)
        if newer is not None:
            erp_file.error = (
                f"older than snapshot {newer.id} ({newer.name}, {newer.as_of:%Y-%m-%d %H:%M} UTC)"
            )
            raise_alert(
                session,
                "snapshot_superseded",
                f"Snapshot {path.name} é anterior ao já aplicado {newer.name}; não aplicado",
                source=cfg.code,
                severity="info",
                details={"file_id": file_id, "newer_file_id": newer.id},
            )
            return snapshot.SnapshotResult(as_of=as_of, superseded=True)
        mapper = Mapper(session, cfg)
    with repo.tx(conn) as session:
        snapshot.create_tables(session.connection())
    with repo.tx(conn) as session:
        records, duplicates = snapshot.stage(session.connection(), cfg, reader, mapper)
        session.execute(update(ErpFile).where(ErpFile.id == file_id).values(rows_total=records))
    with repo.tx(conn) as session:
        differing = snapshots.prepare(session.connection(), as_of, duplicates)
    result = snapshot.SnapshotResult(as_of=as_of, records=records, differing=differing)
    step = cfg.snapshot_chunk_rows
    for a in range(start, records, step):
        b = min(a + step, records)
        with repo.tx(conn) as session:
            changed, rejects = snapshot.apply_chunk(session, cfg, file_id, run_id, as_of, a, b)
            session.execute(
                update(ErpFile)
                .where(ErpFile.id == file_id)
                .values(
                    next_line=b,
                    rows_applied=ErpFile.rows_applied + (b - a - rejects),
                    rows_rejected=ErpFile.rows_rejected + rejects,
                )
            )
        result.changed_levels += changed
        result.rejected += rejects
        progress(b, records)
    with repo.tx(conn) as session:
        result.report_id = snapshot.report(session, cfg, file_id, as_of).id
        result.missing_positions = snapshot.missing_positions(session, cfg, file_id)
        result.negative_positions = snapshot.negative_stock(session, cfg, file_id)
    with repo.tx(conn) as session:
        snapshot.drop_tables(session.connection())
    return result


def _finish(
    session: Session, erp_file: ErpFile, cfg: SapFilesSource, path: Path, state: FileState
) -> None:
    erp_file.state = state.value
    erp_file.path = str(path)
    erp_file.finished_at = utcnow()
    if state == FileState.done:
        erp_file.error = None
    resolve_alerts(session, f"file_failed:{cfg.code}:{erp_file.name}")


def _close_interrupted_runs(session: Session, cfg: SapFilesSource, erp_file: ErpFile) -> None:
    session.execute(
        update(SyncRun)
        .where(
            SyncRun.source == cfg.code,
            SyncRun.entity == ENTITIES.get(erp_file.kind, erp_file.kind),
            SyncRun.status == RunStatus.running.value,
            SyncRun.started_at >= (erp_file.started_at or erp_file.received_at),
        )
        .values(status=RunStatus.failed.value, finished_at=utcnow(), error="interrupted; resumed")
    )


def _quarantine(
    conn: Connection, cfg: SapFilesSource, file_id: int, run_id: int, path: Path, reason: str
) -> Outcome:
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        name = f"{erp_file.id:08d}_{erp_file.name}"
        target = _move(path, cfg.quarantine_dir, name)
        (cfg.quarantine_dir / f"{name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        erp_file.state = FileState.failed.value
        erp_file.error = reason
        erp_file.path = str(target)
        erp_file.finished_at = utcnow()
        run = session.get(SyncRun, run_id)
        if run is not None:
            run.status = RunStatus.failed.value
            run.error = reason
            run.finished_at = utcnow()
        source = session.get(SyncSource, cfg.code)
        if source is not None:
            source.status = "degraded"
            source.last_error = reason
        _alert_failed(session, cfg, erp_file)
        return _outcome(erp_file)


def _alert_failed(session: Session, cfg: SapFilesSource, erp_file: ErpFile) -> None:
    raise_alert(
        session,
        "file_failed",
        f"Arquivo {erp_file.name} de {cfg.name} não pôde ser lido: {erp_file.error}",
        source=cfg.code,
        severity="critical",
        details={"file_id": erp_file.id, "path": erp_file.path},
        dedupe_key=f"file_failed:{cfg.code}:{erp_file.name}",
    )


# --- entry points ------------------------------------------------------------------------------


def ingest_path(
    db: Database, cfg: SapFilesSource, path: Path, progress: Progress | None = None
) -> Outcome:
    """Register a file now and process it in this process (``sincro sync ingest``)."""
    cfg.ensure_folders()
    path = path.resolve()
    if path.parent != cfg.inbox.resolve():
        target = cfg.inbox / path.name
        shutil.copy2(path, target)
        path = target
    with db.write() as session:
        erp_file = register_file(session, cfg, path)
        file_id = erp_file.id
        if erp_file.state == FileState.duplicate:
            return _outcome(erp_file)
    return process_file(db, cfg, file_id, trigger="manual", progress=progress)


def scan_inbox(
    db: Database,
    cfg: SapFilesSource,
    readiness: Readiness | None = None,
    dispatch: Callable[[int], None] | None = None,
) -> list[int]:
    """Register every complete file of the inbox and dispatch those waiting (including files
    left in ``processing`` by a dead worker). Returns the ids dispatched."""
    cfg.ensure_folders()
    readiness = readiness or Readiness(cfg.readiness)
    with db.write() as session:
        repo.ensure_source(session, cfg)
        for path in sorted(p for p in cfg.inbox.iterdir() if p.is_file()):
            try:
                if readiness.is_ready(path):
                    register_file(session, cfg, path, readiness)
            except FileNotFoundError:
                continue  # taken away meanwhile (processed by another worker)
    with db.read() as session:
        ids = repo.pending_files(session, cfg.code)
    for file_id in ids:
        (dispatch or enqueue)(file_id)
    return ids


def prune_archive(cfg: SapFilesSource, keep_days: float, now: float | None = None) -> list[Path]:
    """Delete files of the archive folder (processed and duplicate files, their markers) not
    modified for ``keep_days``; the ledger rows stay. Quarantined files are the operator's and
    are never deleted. Returns the deleted paths."""
    folder = cfg.archive_dir
    if not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - keep_days * 86_400
    deleted = []
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted.append(path)
        except FileNotFoundError:
            continue
    return deleted


def enqueue(file_id: int) -> None:
    """Queue ``sincro.connectors.ingest.process_file`` (routed to the ``ingest`` queue)."""
    from sincro.worker import celery_app

    celery_app.send_task("sincro.connectors.ingest.process_file", args=(file_id,))


def replay_file(
    target: Database | Session,
    file_id: int,
    cfg: SapFilesSource | None = None,
    *,
    actor: Actor | None = None,
) -> ErpFile:
    """Queue a failed file again once it is put back: the file with its name in the inbox (e.g.
    corrected) or, failing that, the quarantined copy moved back to the inbox. Accepts a
    :class:`Database` (own transaction) or the caller's session (queued after its commit).
    Audited as ``sync.replay`` by ``actor`` (default: the CLI)."""
    if isinstance(target, Database):
        with target.write() as session:
            return replay_file(session, file_id, cfg, actor=actor)
    session = target
    erp_file = session.get(ErpFile, file_id, with_for_update=True)
    if erp_file is None:
        raise NotFound(f"no file {file_id}", field="file_id")
    if erp_file.state != FileState.failed:
        raise Conflict(
            f"file {file_id} is {erp_file.state}: only failed files can be replayed", field="id"
        )
    cfg = cfg or source_config(erp_file.source)
    inbox_copy = cfg.inbox / erp_file.name
    if not inbox_copy.exists():
        quarantined = Path(erp_file.path or "")
        if not quarantined.exists():
            raise InvalidInput(
                f"file {file_id}: put {erp_file.name} back in {cfg.inbox}", field="file_id"
            )
        cfg.inbox.mkdir(parents=True, exist_ok=True)
        shutil.move(str(quarantined), inbox_copy)
        reason = quarantined.with_name(quarantined.name + ".reason.txt")
        reason.unlink(missing_ok=True)
    before = {"state": erp_file.state, "error": erp_file.error, "path": erp_file.path}
    sha, size = sha256_of(inbox_copy)
    erp_file.sha256, erp_file.size, erp_file.path = sha, size, str(inbox_copy)
    erp_file.kind = detect_kind(inbox_copy)
    erp_file.state = FileState.received.value
    erp_file.error = None
    erp_file.next_line = erp_file.rows_total = erp_file.rows_applied = erp_file.rows_rejected = 0
    erp_file.started_at = erp_file.finished_at = None
    session.flush()
    resolve_alerts(session, f"file_failed:{erp_file.source}:{erp_file.name}")
    after = {"state": erp_file.state, "path": erp_file.path, "source": erp_file.source}
    audit.record(
        session, actor or Actor.cli(), "sync.replay", Entity("erp_file", file_id), before, after
    )
    on_commit(session, lambda: enqueue(file_id))
    return erp_file


def source_config(code: str) -> SapFilesSource:
    """The configured sap_files source ``code`` (from ``SINCRO_CONNECTORS_FILE``)."""
    from sincro.config import get_settings
    from sincro.connectors.config import load_config

    try:
        source = load_config(get_settings().connectors_file).source(code)
    except KeyError:
        raise NotFound(f"no connector source {code!r} configured", field="source") from None
    if not isinstance(source, SapFilesSource):
        raise InvalidInput(f"source {code!r} is not a sap_files source", field="source")
    return source


def sap_sources() -> list[SapFilesSource]:
    from sincro.config import get_settings
    from sincro.connectors.config import load_config

    config = load_config(get_settings().connectors_file)
    return [s for s in config.sources if isinstance(s, SapFilesSource) and s.active]


def file_rows(
    session: Session, source: str | None, state: str | None, limit: int = 50
) -> list[ErpFile]:
    return list(repo.files(session, source, state, limit))


def is_resumable(session: Session, file_id: int) -> bool:
    state = session.scalar(select(ErpFile.state).where(ErpFile.id == file_id))
    return state in (FileState.received, FileState.processing)


def as_of_text(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""
