"""Write-back round trip with the simulated Protheus: POST, acknowledgement, erp_known_at, and
the next balance neither loses nor double-counts the sale."""

from __future__ import annotations

import httpx
from sqlalchemy import delete, select

from sincro.alerts import Alert
from sincro.config import Settings
from sincro.connectors.models import SyncCursor, WriteBack, WriteBackMovement
from sincro.connectors.orchestrator import run_source
from sincro.connectors.rest.writeback import run_writeback
from sincro.db import Database
from sincro.inventory import service as inventory
from sincro.inventory.models import Movement, Reason
from sincro.inventory.schemas import MovementIn
from sincro.simulators.rest import ProtheusSimulator
from tests.connectors.rest.conftest import alias_locations, rest_config


def resync_stock(settings: Settings, db: Database, config: object) -> None:
    with db.write() as session:  # a full balance read, not just the changes
        session.execute(delete(SyncCursor).where(SyncCursor.entity == "stock"))
    (run,) = run_source(settings, config, "protheus", entities=["stock"], db=db).entities  # type: ignore[arg-type]
    assert run.status == "succeeded"


def test_writeback_round_trip(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    config = rest_config(protheus.url)
    alias_locations(demo, config)
    run_source(settings, config, "protheus", db=demo)
    sku = protheus.products[0].sku
    with demo.write() as session:
        start = inventory.get_level(session, "CD01", sku).on_hand
        inventory.apply_movements(
            session,
            "ecommerce",
            [MovementIn(sku=sku, location="CD01", quantity=-2, reason=Reason.sale)],
        )

    resync_stock(settings, demo, config)  # the ERP does not know the sale yet: it survives
    with demo.read() as session:
        assert inventory.get_level(session, "CD01", sku).on_hand == start - 2

    report = run_writeback(settings, config, "protheus", db=demo)
    assert len(report.created) == 1 and report.acknowledged == report.created
    assert protheus.movements_received == [
        {
            "B2_FILIAL": "D001",
            "B2_COD": sku,
            "B2_LOCAL": "01",
            "quantity": -2,
            "reference": protheus.movements_received[0]["reference"],
        }
    ]
    with demo.read() as session:
        wb = session.get(WriteBack, report.created[0])
        assert wb is not None and wb.state == "acknowledged" and wb.erp_document == "MV0000001"
        posted = protheus.documents_posted[wb.id]["posted_at"]
        movement_id = session.scalar(
            select(WriteBackMovement.movement_id).where(WriteBackMovement.writeback_id == wb.id)
        )
        movement = session.get(Movement, movement_id)
        assert movement is not None and movement.erp_known_at is not None
        assert movement.erp_known_at.isoformat().replace("+00:00", "Z").startswith(posted[:19])

    # The same key again books nothing twice; a second round has nothing new.
    again = httpx.post(protheus.url + "/rest/api/v1/movements", json=wb.payload)
    assert again.json()["document"] == "MV0000001" and len(protheus.documents_posted) == 1
    assert run_writeback(settings, config, "protheus", db=demo).created == []

    resync_stock(settings, demo, config)  # the ERP's balance now includes the sale
    with demo.read() as session:
        assert inventory.get_level(session, "CD01", sku).on_hand == start - 2


def test_writeback_refused_is_failed_with_alert(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    config = rest_config(protheus.url)
    alias_locations(demo, config)
    sku = protheus.products[1].sku
    with demo.write() as session:
        inventory.apply_movements(
            session, "pos", [MovementIn(sku=sku, location="CD01", quantity=-1, reason=Reason.sale)]
        )
    protheus._sku_index.pop(sku)  # the ERP no longer knows the product: HTTP 422
    report = run_writeback(settings, config, "protheus", db=demo)
    assert len(report.created) == 1 and list(report.failed) == report.created
    assert "client_error" in report.failed[report.created[0]]
    with demo.read() as session:
        wb = session.get(WriteBack, report.created[0])
        assert wb is not None and wb.state == "failed" and "HTTP 422" in (wb.last_error or "")
        kinds = session.scalars(select(Alert.kind)).all()
        assert "writeback_failed" in kinds
