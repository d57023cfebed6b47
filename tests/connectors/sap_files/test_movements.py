"""Goods movements (IDoc XML and flat CSV): apply, re-drop, gaps, units, unknown codes."""

from __future__ import annotations

from sqlalchemy import select

from sincro.alerts import Alert
from sincro.connectors.models import ErpFile, ErpMovementKey, SyncReject
from sincro.connectors.sap_files import service
from sincro.inventory.models import Movement
from tests.connectors.sap_files.conftest import World, sp, write
from tests.connectors.sap_files.test_formats import IDOC

CSV_HEADER = "MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;LGORT;SHKZG;ERFMG;ERFME;BUDAT;CPUDT;CPUTM\n"


def ingest(world: World, name: str, text: str) -> service.Outcome:
    return service.ingest_path(world.db, world.cfg, write(world.cfg.inbox / name, text))


def test_idoc_applies_converts_units_rejects_and_reports_the_gap(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    outcome = ingest(world, "WMMBXY_1.xml", IDOC)
    assert outcome.state == "done" and (outcome.rows_applied, outcome.rows_rejected) == (2, 1)
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 8  # 251 H 2
    assert world.level("CHP-000002", "CD01")["on_hand"] == 30  # 101 S 3 CX
    assert outcome.details["gaps"] == {"4900000001/2026": [2]}
    with world.db.read() as s:
        sale = s.scalars(select(Movement).where(Movement.reference == "4900000001/2026/1")).one()
        assert (sale.reason, sale.quantity, sale.source) == ("sale", -2, "erp:sap-test")
        assert sale.erp_known_at == sp(22, 7, 15)
        alert = s.scalars(select(Alert).where(Alert.kind == "movement_gap")).one()
        assert alert.details["missing"] == [2] and "itens ausentes 2" in alert.message
        reject = s.scalars(select(SyncReject)).one()
        assert (reject.rule, reject.field, reject.record_key) == (
            "missing_field",
            "MATNR",
            "4900000001/2026/4",
        )
    assert world.verify() == []


def test_redrop_is_harmless_and_missing_item_closes_the_gap(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    ingest(world, "WMMBXY_1.xml", IDOC)
    again = ingest(world, "WMMBXY_1_copy.xml", IDOC)  # the same bytes: a duplicate
    assert again.state == "duplicate"
    resent = ingest(world, "WMMBXY_1_resent.xml", IDOC.replace("<IDOC BEGIN", "<IDOC  BEGIN"))
    assert resent.state == "done" and resent.details["skipped"] == 2  # other bytes, same items
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 8
    # the missing item arrives in a flat file
    late = ingest(
        world,
        "mov_late.csv",
        CSV_HEADER + "4900000001;2026;2;251;4711;2001;0001;H;1,000;UN;20261122;20261122;071000\n",
    )
    assert late.state == "done" and late.details["gaps"] == {}
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 7
    with world.db.read() as s:
        gap = s.scalars(select(Alert).where(Alert.kind == "movement_gap")).one()
        assert gap.resolved_at is not None
        assert s.scalar(select(ErpMovementKey.line).where(ErpMovementKey.line == 2)) == 2
    assert world.verify() == []


def test_flat_csv_chunks_unknown_codes_units_and_shortage(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 5, sp(21, 10))
    outcome = ingest(
        world,
        "mov.csv",
        CSV_HEADER
        + "4900000005;2026;1;101;4711;2001;0001;S;2,000;CX;20261122;20261122;080000\n"
        + "4900000005;2026;2;101;9999;2001;0001;S;1,000;UN;20261122;20261122;080000\n"
        + "4900000005;2026;3;101;4711;7777;0001;S;1,000;UN;20261122;20261122;080000\n"
        + "4900000005;2026;4;101;4711;2001;0001;S;1,000;KG;20261122;20261122;080000\n"
        + "4900000005;2026;5;251;4712;2001;0001;H;4,000;UN;20261122;20261122;080000\n"
        + "4900000005;2026;6;322;4711;2001;0001;S;3,000;UN;20261122;20261122;080000\n"
        + "4900000005;2026;7;322;4711;2001;0001;H;3,000;UN;20261122;20261122;080000\n"
        + "4900000005;2026;8;251;4711;2002;0001;H;1,000;UN;20261122;20261122;080000\n",
    )
    assert (outcome.rows_applied, outcome.rows_rejected) == (3, 5)
    assert world.level("CEL-000001", "LJ0001") == {
        "on_hand": 25,
        "q": 3,
        "b": 0,
        "r": 0,
        "reserved": 0,
    }
    with world.db.read() as s:
        rules = s.execute(
            select(SyncReject.line, SyncReject.field, SyncReject.rule).order_by(SyncReject.line)
        ).all()
        assert [tuple(r) for r in rules] == [
            (3, "MATNR", "unknown_material"),
            (4, "WERKS", "unknown_plant"),
            (5, "ERFME", "unknown_unit"),
            (6, "ERFMG", "insufficient_stock"),
            (9, "ERFMG", "insufficient_stock"),
        ]
        f = s.get(ErpFile, outcome.file_id)
        assert f is not None and f.next_line == 8 and f.rows_total == 8
    assert world.verify() == []
