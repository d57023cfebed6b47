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
    assert len(reads) == 1
