"""The catalog's service as other domains use it: locations from the directory, product ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from sincro.catalog import service as catalog
from sincro.catalog.models import Location
from sincro.catalog.schemas import LocationIn, PlanIn, ProductIn, PromotionIn
from sincro.db import Database
from tests.factories import make_location, make_product


class Boom(Exception):
    pass


def count_queries(db: Database) -> list[str]:
    """Every statement the database's engines run from now on in this thread (the api's
    background threads, heartbeats and warm-ups, read the same engines at their own pace)."""
    seen: list[str] = []
    caller = threading.get_ident()

    def record(*args: Any) -> None:
        if threading.get_ident() == caller:
            seen.append(args[2])

    for engine in {db.write_engine, db.read_engine}:
        event.listen(engine, "before_cursor_execute", record)
    return seen


def test_place_carries_the_location_fields_in_order() -> None:
    names = [f.name for f in dataclasses.fields(catalog.Place)]
    assert names == ["id", "position", *LocationIn.model_fields, "updated_at"]


def test_directory_holds_each_location_as_the_orm_reads_it(db: Database) -> None:
    """The directory reads plain tuples (not ORM objects): each place still equals its row,
    field by field and type by type, on both databases."""
    with db.write() as s:
        make_location(s, code="LJ-A", ships_online=True)
        make_location(s, code="DC-B", kind="dc", active=False)
    catalog.forget_locations()
    with db.read() as s:
        places = catalog.directory(s).places
        rows = s.scalars(select(Location).order_by(Location.id)).all()
        assert [p.id for p in places] == [row.id for row in rows]
        for position, (place, row) in enumerate(zip(places, rows, strict=True)):
            assert place.position == position
            for name in catalog.PLACE_FIELDS:
                theirs, ours = getattr(row, name), getattr(place, name)
                assert (ours, type(ours)) == (theirs, type(theirs)), name


@pytest.mark.parametrize("name", [*LocationIn.model_fields, "updated_at"])
def test_fingerprint_moves_with_every_field_but_updated_at(name: str) -> None:
    row = (7, "LJ-A", "store", "Loja", "Recife", "PE", -8.05, -34.9, True, True, True,
           "America/Recife", dt.datetime(2026, 12, 7, 12, 0))  # fmt: skip
    assert len(row) == 1 + len(catalog.PLACE_FIELDS)
    index = 1 + catalog.PLACE_FIELDS.index(name)
    value = row[index]
    changed = {str: lambda v: v + "x", float: lambda v: v + 0.001, bool: lambda v: not v}
    other = (
        value + dt.timedelta(seconds=1)
        if isinstance(value, dt.datetime)
        else changed[type(value)](value)
    )
    moved = catalog.fingerprint_of([(*row[:index], other, *row[index + 1 :])])
    same = moved == catalog.fingerprint_of([row])
    assert same is (name == "updated_at")


def test_places_by_code_reloads_only_for_locations_that_exist(db: Database) -> None:
    with db.write() as s:
        make_location(s, code="LJ-A")
    with db.read() as s:
        first = catalog.directory(s)
        assert set(catalog.places_by_code(s, ["LJ-A", "NOPE"])) == {"LJ-A"}
        assert catalog.directory(s) is first  # an unknown code does not reload
    with db.write() as s:
        make_location(s, code="LJ-B", kind="dc")
    with db.read() as s:
        found = catalog.places_by_code(s, ["LJ-A", "LJ-B"])
        assert found["LJ-B"].kind == "dc"
        assert catalog.directory(s) is not first


def test_place_page_filters_sorts_and_counts(db: Database) -> None:
    with db.write() as s:
        for code, state in [("LJ-C", "SP"), ("LJ-A", "SP"), ("LJ-B", "RJ"), ("CD-1", "SP")]:
            make_location(s, code=code, state=state, kind="dc" if code[:2] == "CD" else "store")
    with db.read() as s:
        page, total = catalog.place_page(s, kind="store", state="SP", offset=1, limit=5)
    assert total == 2 and [p.code for p in page] == ["LJ-C"]


def test_product_ids_are_remembered_after_commit_only(db: Database) -> None:
    with pytest.raises(Boom), db.write() as s:
        make_product(s, sku="SKU-X")
        assert set(catalog.product_ids(s, ["SKU-X"])) == {"SKU-X"}
        raise Boom
    with db.write() as s:
        product = make_product(s, sku="SKU-X")
    queries = count_queries(db)
    with db.write() as s:
        assert catalog.product_ids(s, ["SKU-X", "SKU-NONE"]) == {"SKU-X": product.id}
    # the rolled-back SKU-X was not remembered: this asked the database
    assert [q for q in queries if "products" in q]
    queries.clear()
    with db.write() as s:
        assert catalog.product_ids(s, ["SKU-X"]) == {"SKU-X": product.id}
        assert catalog.skus_by_id(s, [product.id]) == {product.id: "SKU-X"}
    assert not [q for q in queries if "products" in q]


def test_find_product_names_a_product(db: Database) -> None:
    with db.write() as s:
        product = make_product(s, sku="SKU-N", name="Cabo USB")
    with db.read() as s:
        found = catalog.find_product(s, "SKU-N")
        assert found == catalog.ProductRef(product.id, "SKU-N", "Cabo USB")
        assert catalog.find_product(s, "SKU-NONE") is None


def test_product_cards_are_kept_once_read_and_committed_and_forgotten_on_change(
    db: Database,
) -> None:
    with db.write() as s:
        make_product(s, sku="SKU-C", name="Cabo USB", category="acessorios")
    queries = count_queries(db)
    with pytest.raises(Boom), db.write() as s:
        assert catalog.product_card(s, "SKU-C") is not None
        raise Boom
    with db.write() as s:  # a rolled-back read was not kept
        card = catalog.product_card(s, "SKU-C")
        assert catalog.product_card(s, "SKU-C") is card  # asked again in the transaction
        assert catalog.product_card(s, "SKU-NONE") is None
    assert card == catalog.ProductCard(card.id, "SKU-C", "Cabo USB", "acessorios")
    assert len([q for q in queries if "FROM products" in q]) == 3
    queries.clear()
    with db.write() as s:
        assert catalog.product_card(s, "SKU-C") is card
    assert not [q for q in queries if "FROM products" in q]
    with db.write() as s:
        catalog.upsert_product(s, ProductIn(sku="SKU-C", name="Cabo USB-C", category="cabos"))
    with db.write() as s:
        renamed = catalog.product_card(s, "SKU-C")
    assert renamed is not None and (renamed.name, renamed.category) == ("Cabo USB-C", "cabos")


def test_offers_in_force_are_kept_and_forgotten_when_this_process_changes_them(
    db: Database,
) -> None:
    today = dt.date(2026, 3, 1)
    with db.write() as s:
        product = make_product(s, sku="SKU-P")
        catalog.upsert_plan(
            s, PlanIn(code="CTRL-1", name="Controle 1", kind="controle", monthly_price=Decimal(50))
        )
        catalog.upsert_promotion(
            s,
            PromotionIn(code="P-1", name="Desconto", sku=product.sku, promo_price=Decimal(9),
                        valid_from=dt.date(2026, 1, 1)),
        )  # fmt: skip
    queries = count_queries(db)
    for _ in range(2):
        with db.write() as s:
            plans = catalog.plans_in_force(s, kind="controle", limit=50)
            promos = catalog.promotions_in_force(s, day=today, sku="SKU-P", limit=3)
        assert [p.code for p in plans] == ["CTRL-1"] and [p.code for p in promos] == ["P-1"]
    offers = [q for q in queries if "FROM telecom_plans" in q or "FROM promotions" in q]
    assert len(offers) == 4  # two counted pages, read once
    with db.write() as s:
        catalog.upsert_plan(
            s, PlanIn(code="CTRL-2", name="Controle 2", kind="controle", monthly_price=Decimal(40))
        )
        assert catalog.promotions_in_force(s, day=dt.date(2025, 1, 1), sku=None, limit=3) == ()
    with db.write() as s:
        plans = catalog.plans_in_force(s, kind="controle", limit=50)
    assert [p.code for p in plans] == ["CTRL-2", "CTRL-1"]


def test_a_stale_directory_is_reloaded_once_by_a_crowd(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads that find the directory stale together wait for ONE reload (not one each)."""
    with db.write() as s:
        make_location(s, code="LJ-A")
    with db.read() as s:
        catalog.directory(s).loaded_at -= catalog.DIRECTORY_TTL_SECONDS + 1
    loads: list[int] = []
    real = catalog.repository.all_locations

    def slow_load(session: Any, fields: Any) -> Any:
        loads.append(1)
        time.sleep(0.3)  # the others arrive while this one reads
        return real(session, fields)

    monkeypatch.setattr(catalog.repository, "all_locations", slow_load)
    crowd = threading.Barrier(3)
    found: list[Any] = []

    def ask() -> None:
        with db.read() as s:
            crowd.wait(timeout=5)
            found.append(catalog.directory(s))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(loads) == 1
    assert len(found) == 3 and len({id(d) for d in found}) == 1
