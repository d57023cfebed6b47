"""Snapshot semantics: the races that break naive overwrites, supersession, reports."""

from __future__ import annotations

from sqlalchemy import select

from sincro.alerts import Alert
from sincro.connectors.models import ErpFile, ReconciliationReport, SyncReject
from sincro.connectors.sap_files import service, writeback
from sincro.inventory import service as inventory
from sincro.inventory.schemas import ReservationLineIn
from tests.connectors.sap_files.conftest import World, sp, write

HEADER = "MATNR;WERKS;LGORT;LABST;INSME;SPEME;RETME;UMLME;MEINS\n"


def snap(world: World, name: str, body: str, header: str = HEADER) -> int:
    path = write(world.cfg.inbox / name, header + body)
    outcome = service.ingest_path(world.db, world.cfg, path)
    return outcome.file_id


def test_snapshot_sets_levels_and_buckets_and_reports(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    file_id = snap(
        world,
        "MB52_20261122_0600.csv",
        "000000000000004711;2001;0001;8,000;1,000;2,000;0,000;5,000;ST\n"
        "000000000000004712;1000;0001;1.200,000;0;0;3,000;0;UN\n"
        "000000000000012345;2002;0001;4,000;0;0;0;0;CX\n",
    )
    assert world.level("CEL-000001", "LJ0001") == {
        "on_hand": 11,
        "q": 1,
        "b": 2,
        "r": 0,
        "reserved": 0,
    }
    assert world.level("CHP-000002", "CD01")["on_hand"] == 1203
    assert world.level("12345", "LJ0002")["on_hand"] == 40  # CX = 10 UN
    assert world.verify() == []
    with world.db.read() as s:
        f = s.get(ErpFile, file_id)
        assert f is not None and f.state == "done" and f.next_line == 3 and f.rows_applied == 3
        assert f.as_of == sp(22, 6)
        report = s.scalars(select(ReconciliationReport)).one()
        assert report.positions == 3 and report.units_reported == 11 + 1203 + 40
        assert report.positions_with_drift == 3 and report.units_drift_abs == 1 + 1203 + 40
        assert report.units_expected == 10
        assert report.largest[0]["sku"] == "CHP-000002" and report.largest[0]["drift"] == 1203
        assert report.threshold_exceeded
        assert s.scalars(select(Alert.kind)).all() == ["large_drift"]


def test_unacknowledged_sale_after_snapshot_time_survives(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    with world.db.write() as s:  # e-commerce sells 3 after T: unknown to the ERP
        r = inventory.reserve(
            s, "shop", [ReservationLineIn(sku="CEL-000001", location="LJ0001", qty=3)], 600
        )
        inventory.commit_reservation(s, r.id, "shop")
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;10,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 7  # 10 (ERP) - 3 (not yet known)
    assert world.verify() == []


def test_acknowledged_sale_posted_before_snapshot_is_not_counted_twice(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    with world.db.write() as s:
        r = inventory.reserve(
            s, "shop", [ReservationLineIn(sku="CEL-000001", location="LJ0001", qty=3)], 600
        )
        inventory.commit_reservation(s, r.id, "shop")
    with world.db.write() as s:
        [wb_id] = writeback.collect(s, world.cfg)
    write(
        world.cfg.inbox / "ACK_1.csv",
        f"WRITEBACK_ID;MBLNR;MJAHR;BUDAT;CPUTM;STATUS\n{wb_id};4900000001;2026;20261122;055900;OK\n",
    )
    service.ingest_path(world.db, world.cfg, world.cfg.inbox / "ACK_1.csv")
    # The ERP posted the sale at 05:59; its 06:00 snapshot already has 7.
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;7,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 7
    assert world.verify() == []


def test_erp_movement_posted_after_snapshot_time_survives(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    world.erp_stock("CEL-000001", "LJ0001", 5, sp(22, 6, 30))  # a receipt at 06:30, already applied
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;10,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 15
    assert world.verify() == []


def test_older_snapshot_is_superseded_and_reapplying_is_a_noop(world: World) -> None:
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;10,000;0;0;0;0;UN\n")
    late = snap(world, "MB52_20261121_0600.csv", "4711;2001;0001;99,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 10
    with world.db.read() as s:
        f = s.get(ErpFile, late)
        assert f is not None and f.state == "superseded" and "older than" in (f.error or "")
    # the same time again, other bytes (a re-export): applied, and nothing changes
    snap(world, "MB52_20261122_0600_b.csv", "4711;2001;0001;10,000;0;0;0;0;UN\n\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 10
    with world.db.read() as s:
        reports = s.scalars(select(ReconciliationReport).order_by(ReconciliationReport.id)).all()
        assert [r.positions_with_drift for r in reports] == [1, 0]


def test_unknown_material_and_plant_are_rejected_rows(world: World) -> None:
    file_id = snap(
        world,
        "MB52_20261122_0600.csv",
        "4711;2001;0001;5,000;0;0;0;0;UN\n"
        "9999;2001;0001;5,000;0;0;0;0;UN\n"
        "4711;7777;0001;5,000;0;0;0;0;UN\n"
        "4712;2001;0001;5,500;0;0;0;0;UN\n"
        "4712;2001;0001;5,000;0;0;0;0;KG\n",
    )
    with world.db.read() as s:
        rejects = s.scalars(select(SyncReject).order_by(SyncReject.line)).all()
        assert [(r.line, r.field, r.rule) for r in rejects] == [
            (3, "MATNR", "unknown_material"),
            (4, "WERKS", "unknown_plant"),
            (5, "MEINS", "fractional_quantity"),
            (6, "MEINS", "unknown_unit"),
        ]
        f = s.get(ErpFile, file_id)
        assert f is not None and (f.rows_applied, f.rows_rejected) == (1, 4)
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 5


def test_storage_locations_are_summed_missing_positions_reported_new_levels_made(
    world: World,
) -> None:
    world.erp_stock("CHP-000002", "LJ0001", 9, sp(21, 10))
    snap(
        world,
        "MB52_20261122_0600.csv",
        "4711;2001;0001;3,000;0;0;0;0;UN\n"
        "12345;2001;0001;2,000;0;0;0;0;UN\n"
        "4711;2001;0002;4,000;0;1,000;0;0;UN\n",
    )
    assert world.level("CEL-000001", "LJ0001") == {
        "on_hand": 8,
        "q": 0,
        "b": 1,
        "r": 0,
        "reserved": 0,
    }
    assert world.level("12345", "LJ0001")["on_hand"] == 2  # no level before: created
    assert world.level("CHP-000002", "LJ0001")["on_hand"] == 9  # not in the snapshot: kept
    with world.db.read() as s:
        alert = s.scalars(select(Alert).where(Alert.kind == "snapshot_missing_positions")).one()
        assert alert.details["count"] == 1 and alert.details["sample"][0]["sku"] == "CHP-000002"
    assert world.verify() == []


def test_more_sold_than_the_erp_reports_clamps_at_zero(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 5, sp(21, 10))
    with world.db.write() as s:
        r = inventory.reserve(
            s, "shop", [ReservationLineIn(sku="CEL-000001", location="LJ0001", qty=3)], 600
        )
        inventory.commit_reservation(s, r.id, "shop")
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;1,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 0
    assert world.verify() == []


def test_a_store_count_after_snapshot_time_survives(world: World) -> None:
    from sincro.inventory.schemas import StockCountIn

    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    with world.db.write() as s:  # the store counts 12 (+2 unknown to the ERP)
        inventory.set_count(s, "store", "LJ0001", "CEL-000001", StockCountIn(on_hand=12), None)
    snap(world, "MB52_20261122_0600.csv", "4711;2001;0001;9,000;0;0;0;0;UN\n")
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 11
    assert world.verify() == []


def test_scan_registers_and_a_snapshot_waits_for_earlier_acknowledgements(world: World) -> None:
    """The ack (posted 05:59) and the 06:00 snapshot arrive together; whatever order the
    workers pick them in, the ack applies first, so the sale is not counted twice."""
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    with world.db.write() as s:
        r = inventory.reserve(
            s, "shop", [ReservationLineIn(sku="CEL-000001", location="LJ0001", qty=3)], 600
        )
        inventory.commit_reservation(s, r.id, "shop")
    with world.db.write() as s:
        [wb_id] = writeback.collect(s, world.cfg)
    write(
        world.cfg.inbox / "ACK_1.csv",
        f"WRITEBACK_ID;MBLNR;MJAHR;BUDAT;CPUTM\n{wb_id};4900000001;2026;20261122;055900\n",
    )
    write(world.cfg.inbox / "MB52_20261122_0600.csv", HEADER + "4711;2001;0001;7,000;0;0;0;0;UN\n")
    (world.cfg.inbox / ".MB52_20261122_0700.csv.tmp").write_text("partial")
    queued: list[int] = []
    ids = service.scan_inbox(world.db, world.cfg, dispatch=queued.append)
    assert ids == queued and len(ids) == 2
    with world.db.read() as s:
        kinds = {f.id: f.kind for f in s.scalars(select(ErpFile))}
    snapshot_id = next(i for i, k in kinds.items() if k == "snapshot")
    assert service.process_file(world.db, world.cfg, snapshot_id).state == "done"
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 7
    with world.db.read() as s:
        assert set(s.scalars(select(ErpFile.state))) == {"done"}
