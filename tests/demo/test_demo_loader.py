"""The demo operator: generators (no database) and the bulk loader on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from tests.services import migrated_sqlite

from sincro.catalog.models import Location, Product
from sincro.db import Database
from sincro.demo.catalog import generate_products, is_valid_ean13
from sincro.demo.cities import CITIES
from sincro.demo.loader import DemoAlreadyLoaded, LoadSummary, load_demo
from sincro.demo.operator import generate_locations, stock_quantities
from sincro.inventory.models import Movement, StockLevel
from sincro.text_pt import UFS

STORES, DCS, PRODUCTS = 30, 2, 50

# Brazil's bounding box (Monte Caburaí to Chuí, Serra do Divisor to Ponta do Seixas).
LAT_MIN, LAT_MAX = -33.8, 5.3
LON_MIN, LON_MAX = -74.0, -34.7


# --- generators -----------------------------------------------------------------------------


def test_cities_cover_every_state() -> None:
    assert len(UFS) == 27
    assert {c.state for c in CITIES} == set(UFS)
    assert 100 <= len(CITIES) <= 150
    assert len({(c.name, c.state) for c in CITIES}) == len(CITIES)
    for city in CITIES:
        assert LAT_MIN < city.latitude < LAT_MAX and LON_MIN < city.longitude < LON_MAX, city


def test_full_size_locations() -> None:
    locations = generate_locations()
    stores = [loc for loc in locations if loc.kind == "store"]
    dcs = [loc for loc in locations if loc.kind == "dc"]
    assert len(stores) == 1800 and len(dcs) == 10
    assert [d.code for d in dcs] == [f"CD{n:02d}" for n in range(1, 11)]
    assert stores[0].code == "LJ0001" and stores[-1].code == "LJ1800"
    assert len({loc.code for loc in locations}) == len(locations)
    assert len({loc.name for loc in locations}) == len(locations)
    assert {s.state for s in stores} == set(UFS)
    assert {s.city for s in stores} == {c.name for c in CITIES}  # every city has a store
    per_city = Counter(s.city for s in stores)
    assert per_city.most_common(1)[0][0] == "São Paulo"
    for loc in locations:
        assert LAT_MIN < loc.latitude < LAT_MAX, loc
        assert LON_MIN < loc.longitude < LON_MAX, loc
        assert re.fullmatch(r"Loja .+ - .+|CD .+", loc.name), loc
        assert loc.active
    assert all(d.ships_online for d in dcs)
    assert 0.20 < sum(s.ships_online for s in stores) / len(stores) < 0.30
    assert 0.75 < sum(s.pickup_enabled for s in stores) / len(stores) < 0.85
    assert generate_locations() == locations  # deterministic
    assert generate_locations(seed=8) != locations


def test_few_stores_still_cover_every_state() -> None:
    locations = generate_locations(stores=STORES, dcs=DCS)
    assert {loc.state for loc in locations if loc.kind == "store"} == set(UFS)


def test_products() -> None:
    products = generate_products()
    assert len(products) == 1000
    assert len({p.sku for p in products}) == 1000
    assert len({p.ean for p in products}) == 1000
    assert len({p.name for p in products}) == 1000
    for product in products:
        assert re.fullmatch(r"[A-Z]{3}-\d{6}", product.sku), product
        assert product.ean.startswith("789") and is_valid_ean13(product.ean), product
        assert product.unit == "UN"
    categories = Counter(p.category for p in products)
    assert len(categories) == 10 and categories.most_common(1)[0][0] == "smartphones"
    assert any(re.fullmatch(r"Smartphone Samsung Galaxy A15 \d+GB \w+", p.name) for p in products)
    assert generate_products() == products
    assert generate_products(seed=8) != products
    small = generate_products(PRODUCTS)
    assert len(small) == PRODUCTS and len({p.category for p in small}) == 10


def test_ean_check_digit() -> None:
    assert is_valid_ean13("7891000315507")  # a real Brazilian EAN
    assert not is_valid_ean13("7891000315508")
    assert not is_valid_ean13("789100031550")


def test_stock_quantities() -> None:
    products = generate_products()
    locations = generate_locations(stores=200, dcs=10)
    carried = total = 0
    for li, loc in enumerate(locations):
        for pi, product in enumerate(products):
            on_hand, safety = stock_quantities(pi, li, loc.kind, product.category, 7)
            assert on_hand >= 0 and safety >= 0
            if loc.kind == "dc":
                assert 50 <= on_hand <= 10_000
                continue
            assert on_hand <= 30
            if product.category == "smartphones":
                assert on_hand <= 8
            total += 1
            carried += safety > 0 or on_hand > 0
    assert 0.50 < carried / total < 0.70
    assert stock_quantities(3, 4, "store", "capas", 7) == stock_quantities(
        3, 4, "store", "capas", 7
    )


# --- loader ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> str:
    return migrated_sqlite(sqlite_template, tmp_path)


@pytest.fixture
def postgres_db(own_postgres: str) -> str:
    """The PostgreSQL case of ``database`` (a database of the test's own)."""
    return own_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest) -> str:
    """A freshly migrated, empty database: a SQLite file, then a PostgreSQL database."""
    return request.getfixturevalue(f"{request.param}_db")  # type: ignore[no-any-return]


def _load_small(url: str, **kwargs: object) -> LoadSummary:
    return load_demo(url, stores=STORES, dcs=DCS, products=PRODUCTS, **kwargs)  # type: ignore[arg-type]


def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        with db.read() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Location, Product, StockLevel, Movement)
            }
    finally:
        db.dispose()


UNRECONCILED = text(
    """
    SELECT COUNT(*) FROM stock_levels s
    LEFT JOIN (
        SELECT product_id, location_id, SUM(quantity) AS quantity, COUNT(*) AS n
        FROM movements WHERE bucket = 'on_hand'
        GROUP BY product_id, location_id
    ) m ON m.product_id = s.product_id AND m.location_id = s.location_id
    WHERE s.on_hand <> COALESCE(m.quantity, 0)
       OR COALESCE(m.n, 0) <> CASE WHEN s.on_hand > 0 THEN 1 ELSE 0 END
    """
)


def test_load_small(empty_db: str) -> None:
    reports: list[tuple[str, int, int]] = []
    before = dt.datetime.now(dt.UTC)
    summary = _load_small(empty_db, progress=lambda *args: reports.append(args))
    after = dt.datetime.now(dt.UTC)

    locations = STORES + DCS
    assert (summary.locations, summary.stores, summary.dcs) == (locations, STORES, DCS)
    assert summary.products == PRODUCTS
    assert summary.stock_levels == locations * PRODUCTS
    assert 0 < summary.movements < summary.stock_levels
    assert summary.seconds > 0
    assert _counts(empty_db) == {
        "locations": locations,
        "products": PRODUCTS,
        "stock_levels": locations * PRODUCTS,
        "movements": summary.movements,
    }

    # progress: every stage starts at 0 and ends with done == total
    stages = [stage for stage, _, _ in reports]
    assert list(dict.fromkeys(stages)) == ["locations", "products", "stock", "ledger"]
    for stage in ("locations", "products", "stock", "ledger"):
        seen = [(done, total) for s, done, total in reports if s == stage]
        assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]

    db = Database(empty_db)
    try:
        with db.read() as session:
            assert session.scalar(UNRECONCILED) == 0
            units = session.scalar(select(func.sum(StockLevel.on_hand)))
            assert units == summary.units_on_hand
            assert session.scalar(select(func.sum(Movement.quantity))) == units
            assert session.scalar(select(func.count()).where(StockLevel.version != 1)) == 0
            assert session.scalar(select(func.count()).where(StockLevel.reserved != 0)) == 0
            kinds = session.execute(
                select(Movement.bucket, Movement.reason, Movement.source).distinct()
            ).all()
            assert [tuple(k) for k in kinds] == [("on_hand", "opening", "demo")]
            assert session.scalar(select(func.count()).where(Movement.quantity <= 0)) == 0
            assert session.scalar(select(func.count()).select_from(text("events"))) == 0

            # rows read back through the ORM like any other (timestamps, booleans)
            level = session.scalars(select(StockLevel).where(StockLevel.on_hand > 0)).first()
            assert level is not None
            assert before - dt.timedelta(seconds=1) <= level.as_of <= after
            assert level.as_of.tzinfo is not None and level.updated_at == level.as_of
            movement = session.scalars(
                select(Movement).where(
                    Movement.product_id == level.product_id,
                    Movement.location_id == level.location_id,
                )
            ).one()
            assert movement.quantity == level.on_hand
            assert movement.occurred_at == movement.recorded_at == level.as_of
            location = session.scalars(select(Location).where(Location.code == "CD01")).one()
            assert location.kind == "dc" and location.ships_online is True
            assert location.pickup_enabled is False and location.active is True
            assert before - dt.timedelta(seconds=1) <= location.created_at <= after
            product = session.scalars(select(Product).order_by(Product.id)).first()
            assert product is not None and is_valid_ean13(product.ean or "")
            assert product.active is True
            stores = session.scalar(select(func.count()).where(Location.kind == "store"))
            assert stores == STORES
            states = session.scalars(select(Location.state).distinct()).all()
            assert set(states) == set(UFS)
            # the DCs hold stock of every product
            dc_ids = select(Location.id).where(Location.kind == "dc")
            empty_at_dc = select(func.count()).where(
                StockLevel.location_id.in_(dc_ids), StockLevel.on_hand == 0
            )
            assert session.scalar(empty_at_dc) == 0
    finally:
        db.dispose()


def test_loading_twice_is_refused(empty_db: str) -> None:
    first = _load_small(empty_db)
    with pytest.raises(DemoAlreadyLoaded, match="'locations'") as caught:
        _load_small(empty_db)
    assert isinstance(caught.value, ValueError)
    assert caught.value.table == "locations"
    assert _counts(empty_db)["stock_levels"] == first.stock_levels


def test_products_alone_also_block_the_load(empty_db: str) -> None:
    db = Database(empty_db)
    try:
        with db.write() as session:
            session.add(Product(sku="X-1", ean=None, name="Produto avulso", category="outros"))
    finally:
        db.dispose()
    with pytest.raises(DemoAlreadyLoaded, match="'products'"):
        _load_small(empty_db)


def test_failed_load_leaves_database_empty(empty_db: str) -> None:
    class Boom(Exception):
        pass

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "ledger" and done > 0:
            raise Boom

    with pytest.raises(Boom):
        _load_small(empty_db, progress=progress)
    assert set(_counts(empty_db).values()) == {0}
    # the bulk-load shortcuts were undone: a normal load works and reconciles
    summary = _load_small(empty_db)
    assert _counts(empty_db)["movements"] == summary.movements


@pytest.mark.postgres
def test_postgres_constraints_survive_the_load(own_postgres: str) -> None:
    query = text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        " UNION ALL SELECT tablename, indexname, indexdef, true FROM pg_indexes"
        " WHERE schemaname = 'public'"
    )
    db = Database(own_postgres)
    try:
        with db.read() as session:
            before = sorted(map(tuple, session.execute(query).all()))
        _load_small(own_postgres)
        with db.read() as session:
            assert sorted(map(tuple, session.execute(query).all())) == before
    finally:
        db.dispose()


def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="migrate"):
        load_demo(f"sqlite:///{tmp_path / 'empty.sqlite'}", stores=2, dcs=1, products=3)
