"""Discovery of dropped files: folder events (watchdog) with a polling fallback.

Both paths end in the same :meth:`Intake.consider`: is the file complete (see
:mod:`.readiness`)? then register it in the file ledger and dispatch it (a Celery task by
default, or an in-process worker thread with ``inline=True``). Polling runs in any case every
``poll_interval_seconds``: it is the fallback when events are unavailable (network shares,
inotify limits) and it re-checks files the ``stable`` strategy is still watching.

Events are debounced: a writer that writes a file slowly causes one modify event per write, and
checking (and hashing) the file on each kept the watcher at a full core. An event only marks its
path due in ``event_debounce_seconds`` (:meth:`Intake.notify`, a dictionary write); the watcher's
loop checks due paths on that timer, so a file costs at most one readiness check per window
however many events it raises. A file already registered is not hashed again while its size and
modification time stay the same.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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
        self.due: dict[Path, float] = {}  # paths an event marked, and when to check them
        self.registered: dict[Path, tuple[int, int, int]] = {}  # path -> size, mtime_ns, file id
        self.checks = 0  # readiness checks made (a test counts them)
        cfg.ensure_folders()

    def notify(self, path: Path, now: float) -> None:
        """A folder event on ``path``: check it once the debounce window has passed."""
        with self.lock:
            self.due.setdefault(path, now + self.cfg.event_debounce_seconds)

    def run_due(self, now: float) -> None:
        """Consider the paths whose debounce window has passed."""
        with self.lock:
            ready = [p for p, at in self.due.items() if at <= now]
            for path in ready:
                del self.due[path]
        self._consider_all(ready)

    def _consider_all(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                self.consider(path)
            except Exception:  # one bad file must not stop the watcher
                log.exception("could not consider file", extra={"file": str(path)})

    def _registered_unchanged(self, path: Path) -> int | None:
        """The file id of ``path`` if it was registered and has not changed since."""
        known = self.registered.get(path)
        if known is None:
            return None
        try:
            stat = path.stat()
        except FileNotFoundError:
            self.registered.pop(path, None)
            return None
        return known[2] if known[:2] == (stat.st_size, stat.st_mtime_ns) else None

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
            if (known := self._registered_unchanged(path)) is not None:
                return known  # taken already: nothing to hash or write again
            self.checks += 1
            if not self.readiness.is_ready(path):
                return None
            try:
                stat = path.stat()
                with self.db.write() as session:
                    erp_file = service.register_file(session, self.cfg, path, self.readiness)
                    file_id, state = erp_file.id, erp_file.state
            except FileNotFoundError:
                return None
            if state in ("received", "processing"):
                self.registered[path] = (stat.st_size, stat.st_mtime_ns, file_id)
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
        with self.lock:
            for gone in self.registered.keys() - set(paths):
                del self.registered[gone]
        self._consider_all(paths)


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
                self.intake.notify(path, time.monotonic())

        observer = Observer()
        try:
            for intake in self.intakes:
                observer.schedule(Handler(intake), str(intake.cfg.inbox), recursive=False)
            observer.start()
            self.observer = observer
        except OSError:
            log.warning("folder events unavailable; polling only")

    def run(self, stop: threading.Event) -> None:
        """Check debounced events on their timer and poll every ``poll_interval_seconds``."""
        if self.use_events:
            self._start_events()
        interval = min(i.cfg.poll_interval_seconds for i in self.intakes) if self.intakes else 1.0
        tick = min([interval, *(i.cfg.event_debounce_seconds for i in self.intakes)])
        next_poll = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                for intake in self.intakes:
                    intake.run_due(now)
                    if now >= next_poll:
                        intake.poll()
                if now >= next_poll:
                    next_poll = now + interval
                stop.wait(tick)
        finally:
            if self.observer is not None:
                self.observer.stop()
                self.observer.join(timeout=5)
