"""A page of ERP balances applied from columns: levels that agree are not written, a level
that differs gets one correction with its ledger row and outbox event, and a page naming
unknown products or locations rejects those records in the page's order while the others
apply. The events name the location by its code without reloading the location directory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from sincro.catalog import service as catalog
from sincro.catalog.models import Location, Product
from sincro.config import Settings
from sincro.connectors.rest.apply import ApplyContext, apply_stock_columns
from sincro.connectors.rest.mapping import Columns
from sincro.db import Database
from sincro.events import Event
from sincro.inventory.models import Movement, StockLevel
from sincro.simulators.rest import ProtheusSimulator
from tests.connectors.rest.conftest import alias_locations, rest_config


def _levels(db: Database) -> dict[tuple[int, int], tuple[int, int]]:
    with db.read() as session:
        rows = session.execute(
            select(
                StockLevel.product_id,
                StockLevel.location_id,
                StockLevel.on_hand,
                StockLevel.version,
            )
        ).all()
    return {(p, loc): (on_hand, version) for p, loc, on_hand, version in rows}


def _page(db: Database, extra: list[tuple[str, str, str, int]]) -> tuple[Columns, dict[str, int]]:
    """Every level of the first two locations at its current on-hand (as the ERP would report
    an agreeing balance), then ``extra`` records (key, sku, plant, quantity)."""
    with db.read() as session:
        skus = {p.id: p.sku for p in session.scalars(select(Product))}
        codes = {loc.id: loc.code for loc in session.scalars(select(Location))}
    levels = _levels(db)
    chosen = sorted({loc for _, loc in levels})[:2]
    records = [
        (f"{codes[loc]}|{skus[p]}", skus[p], codes[loc], on_hand)
        for (p, loc), (on_hand, _) in sorted(levels.items())
        if loc in chosen
    ]
    records += extra
    columns = Columns(
        [r[0] for r in records],
        {
            "sku": [r[1] for r in records],
            "location": [r[2] for r in records],
            "storage": [""] * len(records),
            "on_hand": [r[3] for r in records],
        },
    )
    return columns, {code: loc for loc, code in codes.items()}


def _plant_aliases(db: Database) -> None:
    """Each location's own code as its ERP plant (the demo's aliases are branch numbers)."""
    from sincro.connectors.models import LocationAlias

    with db.write() as session:
        for location_id, code in session.execute(select(Location.id, Location.code)):
            session.add(
                LocationAlias(source="protheus", plant=code, storage="", location_id=location_id)
            )


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_only_differing_levels_are_written_with_their_ledger_row_and_event(
    demo: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias_locations(demo, rest_config("http://127.0.0.1:1"))
    _plant_aliases(demo)
    before = _levels(demo)
    columns, location_of = _page(demo, [])
    # one level differs: its last record says 7 more than on hand (an earlier one agrees)
    i = 3
    key, sku, plant = columns.keys[i], columns.values["sku"][i], columns.values["location"][i]
    columns.keys.append(key)
    columns.values["sku"].append(sku)
    columns.values["location"].append(plant)
    columns.values["storage"].append("")
    columns.values["on_hand"].append(columns.values["on_hand"][i] + 7)
    with demo.read() as session:
        product_id = session.scalar(select(Product.id).where(Product.sku == sku))
        catalog.directory(session)  # loaded, then made stale: the page must not reload it
    location_id = location_of[plant]
    with demo.write() as session:  # renamed after the directory was read
        session.execute(update(Location).where(Location.id == location_id).values(code=f"{plant}X"))
    for current in catalog._directories.values():
        current.loaded_at -= catalog.DIRECTORY_TTL_SECONDS + 1
    reloads: list[int] = []
    original = catalog.repository.all_locations
    monkeypatch.setattr(
        catalog.repository,
        "all_locations",
        lambda session, fields: reloads.append(1) or original(session, fields),
    )
    fetched_at = dt.datetime.now(dt.UTC)
    with demo.write() as session:
        applied, rejects = apply_stock_columns(
            session, ApplyContext("protheus", fetched_at=fetched_at), columns
        )
    assert rejects == [] and applied == len(set(columns.keys))
    after = _levels(demo)
    changed = {level for level in before if after[level] != before[level]}
    assert changed == {(product_id, location_id)}
    on_hand, version = before[(product_id, location_id)]
    assert after[(product_id, location_id)] == (on_hand + 7, version + 1)
    with demo.read() as session:
        moves = session.execute(
            select(Movement.quantity, Movement.reason, Movement.reference, Movement.source).where(
                Movement.reference == "protheus:balance"
            )
        ).all()
        events = session.execute(
            select(Event.sku, Event.location, Event.on_hand, Event.version, Event.cause).where(
                Event.reference == "protheus:balance"
            )
        ).all()
    assert [tuple(m) for m in moves] == [(7, "correction", "protheus:balance", "protheus")]
    assert [tuple(e) for e in events] == [
        (sku, f"{plant}X", on_hand + 7, version + 1, "correction")
    ]
    assert reloads == []  # the codes came from one query, not a directory reload


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unknown_products_and_locations_are_rejected_in_page_order(demo: Database) -> None:
    alias_locations(demo, rest_config("http://127.0.0.1:1"))
    _plant_aliases(demo)
    before = _levels(demo)
    columns, _ = _page(
        demo,
        [
            ("X|NOPE-1", "NOPE-1", "LJ0001", 5),
            ("X|LOC", "CEL-000001", "NOWHERE", 5),
            ("X|NOPE-2", "NOPE-2", "NOWHERE", 5),
        ],
    )
    with demo.write() as session:
        applied, rejects = apply_stock_columns(session, ApplyContext("protheus"), columns)
    assert [(r.record_key, r.field, r.rule, r.value) for r in rejects] == [
        ("X|NOPE-1", "sku", "unknown_product", "NOPE-1"),
        ("X|LOC", "location", "unknown_location", "NOWHERE/"),
        ("X|NOPE-2", "sku", "unknown_product", "NOPE-2"),
    ]
    assert applied == len(columns.keys) - 3
    assert _levels(demo) == before  # the known records agreed: nothing written


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sync_raises_the_young_gc_threshold_while_it_runs(
    settings: Settings,
    demo: Database,
    protheus: ProtheusSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from sincro.connectors import orchestrator

    seen: list[int] = []
    apply_page = orchestrator._apply_page

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold()[0])
        return apply_page(*args, **kwargs)

    monkeypatch.setattr(orchestrator, "_apply_page", watched)
    before = gc.get_threshold()
    config = rest_config(protheus.url)
    alias_locations(demo, config)
    settings = settings.model_copy(update={"connectors_gc_young_threshold": 123_456})
    result = orchestrator.run_source(settings, config, "protheus", entities=["stock"], db=demo)
    assert result.entities[0].status == "succeeded"
    assert seen and set(seen) == {123_456}
    assert gc.get_threshold() == before
