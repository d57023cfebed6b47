"""Negative ERP stock (SAP allows negative unrestricted stock at a store): taken as zero
sellable, never kept as stale stock; the ERP's figure stays in the report and an alert says so.
Both paths: SAP snapshots and REST balances."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from sincro.alerts import Alert
from sincro.connectors.models import ReconciliationReport
from sincro.connectors.rest.apply import ApplyContext, apply_stock
from sincro.connectors.rest.config import PACKAGED_MAPPINGS
from sincro.connectors.rest.mapping import Mapper, load_mapping
from sincro.connectors.sap_files import service
from sincro.inventory import service as inventory
from tests.connectors.sap_files.conftest import World, sp, write


def _open_alerts(world: World) -> list[Alert]:
    with world.db.read() as s:
        return list(
            s.scalars(
                select(Alert).where(Alert.kind == "negative_stock", Alert.resolved_at.is_(None))
            )
        )


def _available(world: World, sku: str, location: str) -> int:
    with world.db.write() as s:
        return inventory.get_level(s, location, sku).available


def test_snapshot_with_negative_unrestricted_takes_it_as_zero(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 7, sp(21, 10))
    world.erp_stock("CHP-000002", "CD01", 3, sp(21, 10))
    body = "MATNR;WERKS;LGORT;LABST;INSME\n4711;2001;0001;5,000-;0\n4712;1000;0001;2,000;0\n"
    outcome = service.ingest_path(
        world.db, world.cfg, write(world.cfg.inbox / "MB52_20261122_0600.csv", body)
    )
    assert outcome.state == "done" and outcome.rows_rejected == 0
    assert outcome.details["negative_positions"] == 1
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 0  # not the stale 7
    assert _available(world, "CEL-000001", "LJ0001") == 0
    assert world.level("CHP-000002", "CD01")["on_hand"] == 2
    assert world.verify() == []
    with world.db.read() as s:
        report = s.scalars(select(ReconciliationReport)).one()
        entry = next(e for e in report.largest if e["sku"] == "CEL-000001")
        assert (entry["reported"], entry["counted"], entry["drift"]) == (-5, 0, -7)
        assert entry["expected"] == 7
    [alert] = _open_alerts(world)
    assert alert.details["sample"] == [
        {"sku": "CEL-000001", "location": "LJ0001", "unrestricted": -5}
    ]
    # a later snapshot without negatives resolves the warning
    service.ingest_path(
        world.db,
        world.cfg,
        write(
            world.cfg.inbox / "MB52_20261122_0800.csv",
            "MATNR;WERKS;LGORT;LABST\n4711;2001;0001;4\n",
        ),
    )
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 4
    assert _open_alerts(world) == []


def test_rest_balance_below_zero_is_zero_sellable_with_an_alert(world: World) -> None:
    protheus = load_mapping(PACKAGED_MAPPINGS / "protheus.yaml")
    mapper = Mapper("stock", protheus.entities["stock"])
    page, rejects = mapper.map_page(
        [{"B2_FILIAL": "2001", "B2_COD": "CEL-000001", "B2_LOCAL": "", "B2_QATU": -4}]
    )
    assert rejects == [] and page[0][1]["on_hand"] == -4
    world.erp_stock("CEL-000001", "LJ0001", 6, sp(21, 10))
    ctx = ApplyContext(world.cfg.code, fetched_at=dt.datetime.now(dt.UTC))
    with world.db.write() as s:
        applied, rejected = apply_stock(s, ctx, page)
    assert (applied, rejected) == (1, [])
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 0
    assert _available(world, "CEL-000001", "LJ0001") == 0
    [alert] = _open_alerts(world)
    assert alert.details["sample"][0]["on_hand"] == -4
