"""Discovery of dropped files: folder events (watchdog) with a polling fallback.

Both paths call the same :meth:`Intake.consider`: is the file complete (see
:mod:`.readiness`)? then register it in the file ledger and dispatch it (a Celery task by
default, or an in-process worker thread with ``inline=True``). Polling runs in any case every
``poll_interval_seconds``: it is the fallback when events are unavailable (network shares,
inotify limits) and it re-checks files the ``stable`` strategy is still watching.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sincro.connectors.sap_files import service
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.readiness import Readiness
from sincro.db import Database

log = logging.getLogger("sincro.connectors.sap_files.watcher")


class Intake:
    """Considers paths of one source's inbox."""

    def __init__(self, db: Database, cfg: SapFilesSource, dispatch: Callable[[int], None]) -> None:
        self.db, self.cfg, self.dispatch = db, cfg, dispatch
        self.readiness = Readiness(cfg.readiness)
        self.dispatched: set[int] = set()
        self.lock = threading.Lock()
        cfg.ensure_folders()

    def consider(self, path: Path) -> int | None:
        """Register and dispatch ``path`` if it is a complete data file; its file id or None."""
        if path.parent.resolve() != self.cfg.inbox.resolve():
            return None
        if not self.readiness.is_candidate(path):
            if any(path.name.endswith(s) for s in self.cfg.readiness.done_suffixes):
                data = self.readiness.data_file_of(path)  # a marker arrived
                if data is None:
                    return None
                path = data
            else:
                return None
        with self.lock:
            if not self.readiness.is_ready(path):
                return None
            try:
                with self.db.write() as session:
                    erp_file = service.register_file(session, self.cfg, path, self.readiness)
                    file_id, state = erp_file.id, erp_file.state
            except FileNotFoundError:
                return None
            if state != "received" or file_id in self.dispatched:
                return file_id
            self.dispatched.add(file_id)
        log.info(
            "file ready", extra={"source": self.cfg.code, "file_id": file_id, "file": path.name}
        )
        self.dispatch(file_id)
        return file_id

    def poll(self) -> None:
        try:
            paths = sorted(p for p in self.cfg.inbox.iterdir() if p.is_file())
        except FileNotFoundError:
            return
        for path in paths:
            try:
                self.consider(path)
            except Exception:  # one bad file must not stop the watcher
                log.exception("could not consider file", extra={"file": str(path)})


class InlineDispatcher:
    """Processes dispatched files in a background thread of this process (no broker)."""

    def __init__(self, db: Database, sources: dict[str, SapFilesSource]) -> None:
        self.db, self.sources = db, sources
        self.queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="sap-inline", daemon=True)
        self.thread.start()

    def for_source(self, code: str) -> Callable[[int], None]:
        return lambda file_id: self.queue.put((code, file_id))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            code, file_id = item
            try:
                outcome = service.process_file(self.db, self.sources[code], file_id)
                log.info("file processed", extra={"file_id": file_id, "state": outcome.state})
            except Exception:
                log.exception("file processing failed", extra={"file_id": file_id})

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)


class Watcher:
    """Watches the inboxes of several sources until ``stop`` is set."""

    def __init__(
        self,
        db: Database,
        sources: list[SapFilesSource],
        dispatch: Callable[[SapFilesSource], Callable[[int], None]],
        *,
        use_events: bool = True,
    ) -> None:
        self.intakes = [Intake(db, cfg, dispatch(cfg)) for cfg in sources]
        self.use_events = use_events
        self.observer: Any = None

    def _start_events(self) -> None:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency
            return

        class Handler(FileSystemEventHandler):
            def __init__(self, intake: Intake) -> None:
                self.intake = intake

            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory or event.event_type in ("deleted", "opened"):
                    return
                raw = getattr(event, "dest_path", "") or event.src_path
                path = Path(raw.decode() if isinstance(raw, bytes) else raw)
                try:
                    self.intake.consider(path)
                except Exception:
                    log.exception("could not consider file", extra={"file": str(path)})

        observer = Observer()
        try:
            for intake in self.intakes:
                observer.schedule(Handler(intake), str(intake.cfg.inbox), recursive=False)
            observer.start()
            self.observer = observer
        except OSError:
            log.warning("folder events unavailable; polling only")

    def run(self, stop: threading.Event) -> None:
        if self.use_events:
            self._start_events()
        interval = min(i.cfg.poll_interval_seconds for i in self.intakes) if self.intakes else 1.0
        try:
            while not stop.is_set():
                for intake in self.intakes:
                    intake.poll()
                stop.wait(interval)
        finally:
            if self.observer is not None:
                self.observer.stop()
                self.observer.join(timeout=5)
