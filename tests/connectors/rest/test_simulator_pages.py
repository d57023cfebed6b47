"""The simulated Protheus's balances made a page at a time are the ones made record by record."""

from __future__ import annotations

import pytest

from sincro.simulators.rest import ProtheusSimulator, _parse_iso


@pytest.mark.parametrize("since", [None, "2026-01-01T00:00:03Z"])
def test_balances_in_bulk_are_the_records_one_by_one(since: str | None) -> None:
    sim = ProtheusSimulator(products=37, stores=12, dcs=2, customers=10)
    sim.server.server_close()
    table = sim.tables["SB2"]
    assert table.make_many is not None
    moment = _parse_iso(since) if since else None
    for offset, limit in ((0, 5), (3, 100), (30, 37), (400, 100), (0, 1000), (510, 10)):
        bulk = table.select(moment, offset, limit)
        many, table.make_many = table.make_many, None
        try:
            assert bulk == table.select(moment, offset, limit)
        finally:
            table.make_many = many
    # a changed balance (a write-back) moves to the end: pages are then made record by record
    record = table.current(40)
    record["B2_QATU"] = 1.0
    table.change(40, record, sim_now := _parse_iso("2026-02-01T00:00:00Z"))
    items, total = table.select(None, 0, 14 * 37)
    assert total == 14 * 37 and items[-1]["B2_QATU"] == 1.0
    assert items[-1]["S_T_A_M_P_"] >= sim_now.strftime("%Y-%m-%d")
