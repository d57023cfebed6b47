"""A page of stock balances is planned for its own arrays on PostgreSQL: psycopg prepares the
corrections' lookup after five pages on a connection, and PostgreSQL's generic plan of it
(arrays of unknown length) cost ~2.7x the server CPU of planning each page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from sincro.db import Database
from sincro.inventory import snapshots
from sincro.inventory.models import StockLevel


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_balance_lookups_are_planned_for_their_page(demo: Database) -> None:
    as_of = dt.datetime.now(dt.UTC)
    with demo.read() as session:
        levels = session.execute(
            select(StockLevel.product_id, StockLevel.location_id, StockLevel.on_hand)
        ).all()
    balances = {(p, loc): on_hand for p, loc, on_hand in levels}
    first = next(iter(balances))
    balances[first] += 3
    for _ in range(8):  # past psycopg's prepare threshold on the same connection
        with demo.write() as session:
            lines = snapshots.balance_corrections(session, balances, as_of, reference="t")
            assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            assert [(line.product_id, line.location_id, line.quantity) for line in lines] == [
                (*first, 3)
            ]
    with demo.read() as session:  # for that transaction only
        assert session.scalar(text("SHOW plan_cache_mode")) == "auto"
