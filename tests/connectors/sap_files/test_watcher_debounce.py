"""Folder events are debounced: a file written slowly (one modify event per write) costs a few
readiness checks, not one per event, and a registered file is not hashed again on every poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sincro.connectors.sap_files import service
from sincro.connectors.sap_files.config import ReadinessConfig
from sincro.connectors.sap_files.watcher import Intake, Watcher
from tests.connectors.sap_files.conftest import World

SNAPSHOT = b"MATNR;WERKS;LGORT;LABST\r\n" + b"4711;2001;0001;5,000\r\n" * 400


def _count_checks(intake: Intake) -> list[Path]:
    checked: list[Path] = []
    original = intake.readiness.is_ready

    def counting(path: Path) -> bool:
        checked.append(path)
        return original(path)

    intake.readiness.is_ready = counting  # type: ignore[method-assign]
    return checked


def test_many_modify_events_cause_few_readiness_checks(world: World) -> None:
    world.cfg.readiness = ReadinessConfig(strategy="done_file")
    world.cfg.poll_interval_seconds = 30  # events only
    world.cfg.event_debounce_seconds = 0.3
    dispatched: list[int] = []
    watcher = Watcher(world.db, [world.cfg], lambda _cfg: dispatched.append)
    checked = _count_checks(watcher.intakes[0])
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.3)
        path = world.cfg.inbox / "MB52_20261122_0600.csv"
        with path.open("wb") as stream:  # a slow writer: 200 writes over ~1 s
            for offset in range(0, len(SNAPSHOT), len(SNAPSHOT) // 200):
                stream.write(SNAPSHOT[offset : offset + len(SNAPSHOT) // 200])
                stream.flush()
                time.sleep(0.005)
        (world.cfg.inbox / "MB52_20261122_0600.csv.done").touch()
        deadline = time.monotonic() + 10
        while not dispatched and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert len(dispatched) == 1
    # the first poll at start, then one check per debounce window (~1.3 s of writing)
    assert len(checked) <= 10, len(checked)


def test_notify_marks_once_per_window(world: World) -> None:
    intake = Intake(world.db, world.cfg, lambda _id: None)
    checked = _count_checks(intake)
    path = world.cfg.inbox / "MB52_20261122_0600.csv"
    path.write_bytes(SNAPSHOT)
    for i in range(1000):
        intake.notify(path, 100.0 + i * 1e-4)
    intake.run_due(100.0)
    assert checked == []  # still inside the window
    intake.run_due(100.0 + world.cfg.event_debounce_seconds)
    assert checked == [path]


def test_a_waiting_file_is_not_hashed_on_every_poll(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[Path] = []
    original = service.sha256_of

    def counting(path: Path) -> tuple[str, int]:
        hashed.append(path)
        return original(path)

    monkeypatch.setattr(service, "sha256_of", counting)
    intake = Intake(world.db, world.cfg, lambda _id: None)
    (world.cfg.inbox / "MB52_20261122_0600.csv").write_bytes(SNAPSHOT)
    for _ in range(20):  # the worker is busy: the file waits in the inbox
        intake.poll()
    assert len(hashed) == 1


def test_archive_keeps_n_days_and_never_touches_quarantine(world: World) -> None:
    import os

    from sincro.connectors.sap_files.schedule import beat_entries

    cfg = world.cfg
    cfg.ensure_folders()
    old, recent = cfg.archive_dir / "00000001_MB52_old.csv", cfg.archive_dir / "00000002_MB52.csv"
    kept = cfg.quarantine_dir / "00000003_bad.csv"
    for path in (old, recent, kept):
        path.write_bytes(b"x")
    now = time.time()
    for path in (old, kept):
        os.utime(path, (now - 20 * 86_400, now - 20 * 86_400))
    assert service.prune_archive(cfg, keep_days=14, now=now) == [old]
    assert recent.exists() and kept.exists() and not old.exists()
    entry = beat_entries([cfg.code])[f"sap-{cfg.code}-prune-archive"]
    assert entry["task"] == "sincro.connectors.ingest.prune_archive"
