"""The file ledger: registration, re-drops, quarantine and replay, readiness, the watcher."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from sincro.alerts import Alert
from sincro.connectors.models import ErpFile, SyncRun
from sincro.connectors.sap_files import service
from sincro.connectors.sap_files.config import ReadinessConfig
from sincro.connectors.sap_files.readiness import Readiness
from sincro.connectors.sap_files.watcher import Intake, Watcher
from tests.connectors.sap_files.conftest import World, write

SNAPSHOT = "MATNR;WERKS;LGORT;LABST\n4711;2001;0001;5,000\n"


def test_redrop_of_the_same_bytes_is_a_recorded_noop(world: World) -> None:
    first = service.ingest_path(
        world.db, world.cfg, write(world.cfg.inbox / "MB52_20261122_0600.csv", SNAPSHOT)
    )
    again = service.ingest_path(world.db, world.cfg, write(world.cfg.inbox / "copia.csv", SNAPSHOT))
    assert (first.state, again.state) == ("done", "duplicate")
    with world.db.read() as s:
        dup = s.get(ErpFile, again.file_id)
        assert dup is not None and f"file {first.file_id}" in (dup.error or "")
        assert Path(dup.path or "").parent == world.cfg.archive_dir
    assert not any(world.cfg.inbox.iterdir())
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 5


def test_unparseable_file_is_quarantined_whole_then_replayed(world: World) -> None:
    bad = write(world.cfg.inbox / "MB52_20261122_0600.csv", "isto não é um MB52\n4711;1;2\n")
    outcome = service.ingest_path(world.db, world.cfg, bad)
    assert outcome.state == "failed" and "no header line" in (outcome.error or "")
    quarantined = world.cfg.quarantine_dir / f"{outcome.file_id:08d}_MB52_20261122_0600.csv"
    assert quarantined.exists() and not bad.exists()
    reason = quarantined.with_name(quarantined.name + ".reason.txt").read_text()
    assert "no header line" in reason
    with world.db.read() as s:
        assert s.scalars(select(Alert.kind)).all() == ["file_failed"]
        run = s.scalars(select(SyncRun)).one()
        assert run.status == "failed" and run.entity == "stock_snapshot"
    # the operator puts a corrected file back and presses replay
    write(world.cfg.inbox / "MB52_20261122_0600.csv", SNAPSHOT)
    queued: list[int] = []
    import sincro.connectors.sap_files.service as svc

    original = svc.enqueue
    svc.enqueue = queued.append  # type: ignore[assignment]
    try:
        service.replay_file(world.db, outcome.file_id, world.cfg)
    finally:
        svc.enqueue = original  # type: ignore[assignment]
    assert queued == [outcome.file_id]
    done = service.process_file(world.db, world.cfg, outcome.file_id)
    assert done.state == "done"
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 5
    with world.db.read() as s:
        assert s.scalars(select(Alert)).one().resolved_at is not None


def test_not_xml_and_unknown_kind_are_quarantined(world: World) -> None:
    xml = service.ingest_path(
        world.db, world.cfg, write(world.cfg.inbox / "WMMBXY_9.xml", "<WMMBID02><IDOC>")
    )
    other = service.ingest_path(world.db, world.cfg, write(world.cfg.inbox / "leiame.txt", "olá\n"))
    assert (xml.state, other.state) == ("failed", "failed")
    assert "not well-formed" in (xml.error or "") and "not a stock snapshot" in (other.error or "")
    assert len(list(world.cfg.quarantine_dir.glob("*.reason.txt"))) == 2


def test_readiness_strategies(tmp_path: Path) -> None:
    clock = [0.0]
    data = tmp_path / "MB52.csv"
    data.write_text("x")
    rename = Readiness(ReadinessConfig(strategy="rename"))
    assert rename.is_ready(data)
    assert not rename.is_ready(tmp_path / ".MB52.csv.tmp") and not rename.is_candidate(
        tmp_path / "a.part"
    )
    done = Readiness(ReadinessConfig(strategy="done_file"))
    assert not done.is_ready(data)
    (tmp_path / "MB52.csv.done").touch()
    assert done.is_ready(data) and done.data_file_of(tmp_path / "MB52.csv.done") == data
    stable = Readiness(
        ReadinessConfig(strategy="stable", stable_checks=2, stable_interval_seconds=1),
        lambda: clock[0],
    )
    assert not stable.is_ready(data)  # first sight
    clock[0] = 1.0
    assert not stable.is_ready(data)
    with data.open("a") as f:  # still growing: starts over
        f.write("more")
    clock[0] = 2.0
    assert not stable.is_ready(data)
    clock[0] = 3.0
    assert not stable.is_ready(data)
    clock[0] = 4.0
    assert stable.is_ready(data)


def test_a_file_still_being_written_is_not_read(world: World) -> None:
    world.cfg.readiness = ReadinessConfig(strategy="done_file")
    dispatched: list[int] = []
    intake = Intake(world.db, world.cfg, dispatched.append)
    path = world.cfg.inbox / "MB52_20261122_0600.csv"
    with path.open("w") as partial:
        partial.write("MATNR;WERKS;LGORT;LABST\n4711;20")
        partial.flush()
        assert intake.consider(path) is None
        partial.write("01;0001;5,000\n")
    assert intake.consider(path) is None  # complete, but no marker yet
    (world.cfg.inbox / "MB52_20261122_0600.csv.done").touch()
    file_id = intake.consider(world.cfg.inbox / "MB52_20261122_0600.csv.done")
    assert file_id is not None and dispatched == [file_id]
    assert intake.consider(path) == file_id and dispatched == [file_id]  # same drop
    assert service.process_file(world.db, world.cfg, file_id).state == "done"
    assert sorted(p.name for p in world.cfg.archive_dir.iterdir()) == [
        f"{file_id:08d}_MB52_20261122_0600.csv",
        f"{file_id:08d}_MB52_20261122_0600.csv.done",
    ]


def test_watcher_sees_renamed_files_by_events_and_by_polling(world: World) -> None:
    from sincro.simulators.sap_files import drop

    seen: set[int] = set()
    got = threading.Event()

    def dispatch(file_id: int) -> None:
        seen.add(file_id)
        if len(seen) == expected:
            got.set()

    expected = 1

    stop = threading.Event()
    world.cfg.poll_interval_seconds = 30  # events only, at first
    watcher = Watcher(world.db, [world.cfg], lambda _cfg: dispatch)
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.3)
        drop(world.cfg, "MB52_20261122_0600.csv", SNAPSHOT.encode(), slow_seconds=0.4)
        assert got.wait(10), "no event"
    finally:
        stop.set()
        thread.join(10)
    # polling only
    world.cfg.poll_interval_seconds = 0.1
    stop = threading.Event()
    got.clear()
    expected = 2  # a restarted watcher also dispatches again what still waits
    watcher = Watcher(world.db, [world.cfg], lambda _cfg: dispatch, use_events=False)
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        drop(world.cfg, "MB52_20261122_0700.csv", SNAPSHOT.replace("5,0", "6,0").encode())
        assert got.wait(10), "not polled"
    finally:
        stop.set()
        thread.join(10)
    assert len(seen) == 2
    with world.db.read() as s:
        assert s.scalars(select(ErpFile.state)).all() == ["received", "received"]


def test_slow_writers_are_read_only_when_complete(world: World) -> None:
    from sincro.simulators.sap_files import drop, snapshot_text

    for n, strategy in enumerate(("done_file", "stable", "rename"), start=1):
        content = snapshot_text([("4711", "2001", "0001", n, 0, 0, 0, 0)], sp_local()).encode()
        world.cfg.readiness = ReadinessConfig(
            strategy=strategy, stable_checks=2, stable_interval_seconds=0.1
        )
        registered: list[int] = []
        intake = Intake(world.db, world.cfg, registered.append)
        name = f"MB52_{strategy}.csv"
        writer = threading.Thread(
            target=drop, args=(world.cfg, name, content), kwargs={"slow_seconds": 0.4}
        )
        writer.start()

        def mine(name: str = name) -> list[Path]:
            return [p for p in world.cfg.inbox.iterdir() if name in p.name]

        while writer.is_alive():
            for path in mine():
                intake.consider(path)
            assert registered == [], f"{strategy}: read while still being written"
            time.sleep(0.02)
        writer.join()
        deadline = time.monotonic() + 5
        while not registered and time.monotonic() < deadline:
            for path in mine():
                intake.consider(path)
            time.sleep(0.05)
        assert len(registered) == 1, strategy
        with world.db.read() as s:
            f = s.get(ErpFile, registered[0])
            assert f is not None and f.size == len(content) and f.name == name


def sp_local():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2026, 11, 22, 6, 0)
