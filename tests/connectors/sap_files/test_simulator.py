"""The SAP simulator reads stock through inventory: what SAP would list is Sincro's level minus
what SAP does not know yet."""

from __future__ import annotations

from sincro.inventory import service as inventory
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn
from sincro.simulators.sap_files import SapWriter
from tests.connectors.sap_files.conftest import World, sp


def test_erp_positions_leave_out_unacknowledged_sales(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(20, 9))
    world.erp_stock("CHP-000002", "LJ0002", 8, sp(20, 9))
    with world.db.write() as s:
        sale = MovementIn(sku="CEL-000001", location="LJ0001", quantity=-3, reason=Reason.sale)
        inventory.apply_movements(s, "ecommerce", [sale])
    writer = SapWriter(world.cfg, world.db)
    listed = {(matnr, plant): labst for matnr, plant, _, labst, *_ in writer.erp_positions()}
    assert listed[("4711", "2001")] == 10  # on hand 7 + the sale SAP has not seen
    assert listed[("4712", "2002")] == 8
    assert len(writer.drop_movements(documents=1, items=2)) >= 1


def test_the_simulator_costs_little(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A slow writer sleeps between its writes; the stock it sells from is read every 30 s,
    not on every tick."""
    import time

    from sincro.simulators import sap_files as simulator

    started = time.thread_time()
    simulator.drop(
        world.cfg, "MB52_20261122_0600.csv", b"MATNR;WERKS;LABST\n" * 5000, slow_seconds=0.8
    )
    assert time.thread_time() - started < 0.2
    reads: list[int] = []
    original = inventory.stock_positions

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(simulator.inventory, "stock_positions", counting)
    writer = SapWriter(world.cfg, world.db)
    for _ in range(5):
        writer.drop_movements()
    assert len(reads) == 2  # the stocked pairs and the reorder review, once a refresh window each


def test_the_simulated_erp_replenishes_on_its_reorder_policy(world: World) -> None:
    """A level at the reorder point gets one purchase order; its 101 receipt arrives only
    after the lead time, for the quantity up to the order-up-to level."""

    with world.db.write() as s:
        inventory.apply_movements(
            s,
            "test",
            [
                MovementIn(sku="CEL-000001", location="LJ0001", quantity=1, reason=Reason.receipt),
                MovementIn(sku="CHP-000002", location="LJ0002", quantity=50, reason=Reason.receipt),
            ],
        )
    writer = SapWriter(world.cfg, world.db, lead_time_seconds=60.0)
    placed = writer.review_stock(now=1000.0)
    assert placed == 1  # the level at the reorder point; the well-stocked one is left alone
    assert writer.review_stock(now=1001.0) == 0  # reviewed once a window
    assert writer.arrived(now=1030.0) == []  # lead time not over
    assert writer.review_stock(now=1040.0) == 0  # on order: not ordered twice
    arrived = writer.arrived(now=1061.0)
    assert len(arrived) == placed
    assert all(qty >= writer.order_up_to - writer.reorder_point for _p, _loc, qty in arrived)
