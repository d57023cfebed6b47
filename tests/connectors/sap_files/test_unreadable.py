"""Files that break the readers: every one ends ``failed``, set aside whole with its reason,
the next files unaffected; the same bytes again are a no-op saying why, corrected bytes are
processed."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import select

from sincro.connectors.models import ErpFile
from sincro.connectors.sap_files import formats, service
from sincro.connectors.sap_files.watcher import Intake
from tests.connectors.sap_files.conftest import World, write

SNAPSHOT = "MATNR;WERKS;LGORT;LABST\n4711;2001;0001;5,000\n"
MOVEMENTS = (
    "MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;LGORT;SHKZG;ERFMG;ERFME;BUDAT;CPUDT;CPUTM\n"
    "4900000001;2026;1;101;4711;2001;0001;S;2,000;UN;20261122;20261122;071000\n"
)


def _states(world: World) -> dict[int, tuple[str, str | None]]:
    with world.db.read() as s:
        return {f.id: (f.state, f.error) for f in s.scalars(select(ErpFile))}


def _scan(world: World) -> list[int]:
    """The watcher's path: register what is complete, process it in this process."""
    intake = Intake(world.db, world.cfg, lambda i: None)
    intake.poll()
    with world.db.read() as s:
        pending = [f.id for f in s.scalars(select(ErpFile).where(ErpFile.state == "received"))]
    for file_id in pending:
        service.process_file(world.db, world.cfg, file_id)
    return pending


def _assert_quarantined(world: World, file_id: int, name: str, words: str) -> None:
    with world.db.read() as s:
        row = s.get(ErpFile, file_id)
        assert row is not None and row.state == "failed", row and (row.state, row.error)
        assert words in (row.error or "")
    kept = world.cfg.quarantine_dir / f"{file_id:08d}_{name}"
    assert kept.exists()
    assert words in kept.with_name(kept.name + ".reason.txt").read_text()


def test_gzip_named_csv_is_quarantined_then_redrop_and_correction(world: World) -> None:
    name = "MB52_20261122_0600.csv"
    packed = gzip.compress(SNAPSHOT.encode() * 50)
    (world.cfg.inbox / name).write_bytes(packed)
    write(world.cfg.inbox / "WMMBXY_20261122_0700.csv", MOVEMENTS)
    _scan(world)
    states = _states(world)
    bad = next(i for i, (st, _) in states.items() if st == "failed")
    _assert_quarantined(world, bad, name, "gzip")
    assert sorted(st for st, _ in states.values()) == ["done", "failed"]  # the next file ran
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 2
    # the same bytes again: a no-op that says why
    (world.cfg.inbox / name).write_bytes(packed)
    _scan(world)
    dup = max(_states(world))
    state, reason = _states(world)[dup]
    assert state == "duplicate" and f"failed file {bad}" in (reason or "")
    assert not (world.cfg.inbox / name).exists()
    # the corrected file (other bytes) is processed
    write(world.cfg.inbox / name, SNAPSHOT)
    _scan(world)
    assert _states(world)[max(_states(world))][0] == "done"
    # 5 at 06:00, plus the 07:10 receipt SAP did not know at 06:00
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 7


def test_quote_and_bare_cr_on_one_line_fails_the_file(world: World) -> None:
    text = MOVEMENTS + '4900000001;2026;2;101;"4711";2001;0001\rS;1,000;UN;20261122;;\n'
    bad = world.cfg.inbox / "WMMBXY_20261122_0800.csv"
    bad.write_bytes(text.encode())
    outcome = service.ingest_path(world.db, world.cfg, bad)
    assert outcome.state == "failed"
    _assert_quarantined(world, outcome.file_id, bad.name, "line 3")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 0  # nothing half-applied
    good = service.ingest_path(
        world.db, world.cfg, write(world.cfg.inbox / "WMMBXY_20261122_0900.csv", MOVEMENTS)
    )
    assert good.state == "done"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("MB52_20261122_0600.csv", b"MATNR;WERKS;LGORT;LABST\n4711;2001;\x00;5\n"),
        ("MB52_20261122_0601.csv", b"PK\x03\x04" + b"\x00" * 40),
        ("ack_20261122.csv", b'WRITEBACK_ID;BUDAT\n"abc";2026\r1122\n'),
        ("leiame.txt", b"\x1f\x8b\x08\x00garbage"),
    ],
)
def test_every_unreadable_file_ends_failed(world: World, name: str, content: bytes) -> None:
    path = world.cfg.inbox / name
    path.write_bytes(content)
    outcome = service.ingest_path(world.db, world.cfg, path)
    assert outcome.state == "failed" and outcome.error
    assert (
        not path.exists() and (world.cfg.quarantine_dir / f"{outcome.file_id:08d}_{name}").exists()
    )


def test_an_unexpected_reader_error_also_quarantines(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: formats.SnapshotReader, *args: object) -> object:
        raise IndexError("list index out of range")

    monkeypatch.setattr(formats.SnapshotReader, "parse", broken)
    path = write(world.cfg.inbox / "MB52_20261122_0600.csv", SNAPSHOT)
    outcome = service.ingest_path(world.db, world.cfg, path)
    assert outcome.state == "failed" and "IndexError" in (outcome.error or "")
    assert (world.cfg.quarantine_dir / f"{outcome.file_id:08d}_{path.name}").exists()
