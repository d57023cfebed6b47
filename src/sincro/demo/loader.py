"""Bulk loader for the demo operator: locations, products, a stock level for every product at
every location, and the opening ledger.

The ORM would need minutes for 1.8 million stock levels, so this module talks to the DBAPI
directly: ``executemany`` in large chunks inside one transaction on SQLite, ``COPY FROM STDIN``
on PostgreSQL. Everything happens in a single transaction, so a failed load leaves the
database as it was. Locations and products are written here; the stock levels and the opening
ledger (one ``opening`` movement, source ``demo``, per level with stock) by inventory's bulk
loader (:class:`sincro.inventory.opening.OpeningStock`) on the same cursor. The opening load
writes no events.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from sincro.catalog.schemas import LocationIn
from sincro.db import Database, Timeouts, first_nonempty, postgres_url, utcnow
from sincro.demo.catalog import DemoProduct, generate_products
from sincro.demo.operator import generate_locations, stock_quantities
from sincro.inventory.opening import LocationStock, OpeningStock

Progress = Callable[[str, int, int], None]

# Tables (besides inventory's) that must be empty before loading; checked in this order.
_TABLES = ("locations", "products")

# Stock levels are generated and written per block of locations, about this many rows a block.
_BLOCK_ROWS = 100_000

_LOCATION_FIELDS = tuple(LocationIn.model_fields)
_LOCATION_COLUMNS = ", ".join((*_LOCATION_FIELDS, "created_at", "updated_at"))
_PRODUCT_COLUMNS = "sku, ean, name, category, unit, active, created_at, updated_at"


class DemoAlreadyLoaded(ValueError):
    """The target database is not empty."""

    def __init__(self, table: str, rows: int) -> None:
        super().__init__(
            f"table {table!r} already has {rows} row(s); load_demo needs a freshly migrated,"
            " empty database"
        )
        self.table = table
        self.rows = rows


@dataclass(frozen=True, slots=True)
class LoadSummary:
    backend: str
    locations: int
    stores: int
    dcs: int
    products: int
    stock_levels: int
    movements: int
    units_on_hand: int
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    locations: list[LocationIn]
    products: list[DemoProduct]
    seed: int
    now: dt.datetime  # naive UTC
    progress: Progress
    stage_seconds: dict[str, float] = field(default_factory=dict)
    levels: int = 0
    movements: int = 0
    units: int = 0

    @property
    def now_text(self) -> str:
        """The format SQLAlchemy's SQLite DateTime stores (and PostgreSQL reads)."""
        return self.now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def blocks(self) -> Iterator[tuple[int, int]]:
        """[start, stop) location index ranges of about ``_BLOCK_ROWS`` stock levels each."""
        per_block = max(1, _BLOCK_ROWS // max(1, len(self.products)))
        for start in range(0, len(self.locations), per_block):
            yield start, min(start + per_block, len(self.locations))

    def stock(
        self, start: int, stop: int, location_ids: list[int], product_ids: list[int]
    ) -> Iterator[LocationStock]:
        """The opening stock of the locations with index in [start, stop)."""
        for location_index in range(start, stop):
            yield location_ids[location_index], product_ids, self.quantities(location_index)

    def quantities(self, location_index: int) -> list[tuple[int, int]]:
        """(on_hand, safety_stock) of every product at one location, in product order."""
        location = self.locations[location_index]
        kind = location.kind
        seed = self.seed
        return [
            stock_quantities(product_index, location_index, kind, product.category, seed)
            for product_index, product in enumerate(self.products)
        ]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def load_demo(
    database_url: str,
    stores: int = 1800,
    dcs: int = 10,
    products: int = 1000,
    seed: int = 7,
    progress: Progress | None = None,
) -> LoadSummary:
    """Load the demo operator into an empty, migrated database (SQLite or PostgreSQL).

    Raises :class:`DemoAlreadyLoaded` (a ``ValueError``) naming the first non-empty table.
    ``progress(stage, done, total)`` is called as each stage advances; the stages are
    ``locations``, ``products``, ``stock`` (rows) and ``ledger`` (rows).
    """
    started = time.perf_counter()
    plan = _Plan(
        locations=generate_locations(stores=stores, dcs=dcs, seed=seed),
        products=generate_products(count=products, seed=seed),
        seed=seed,
        now=utcnow().replace(tzinfo=None),
        progress=progress or _noop,
    )
    backend = make_url(database_url).get_backend_name()
    if backend == "sqlite":
        _load_sqlite(database_url, plan)
    elif backend == "postgresql":
        _load_postgres(database_url, plan)
    else:
        raise ValueError(f"unsupported database for the demo loader: {backend}")
    return LoadSummary(
        backend=backend,
        locations=len(plan.locations),
        stores=sum(1 for loc in plan.locations if loc.kind == "store"),
        dcs=sum(1 for loc in plan.locations if loc.kind == "dc"),
        products=len(plan.products),
        stock_levels=plan.levels,
        movements=plan.movements,
        units_on_hand=plan.units,
        seconds=round(time.perf_counter() - started, 3),
        stage_seconds=plan.stage_seconds,
    )


class _Stage:
    """Times one stage and reports its progress."""

    def __init__(self, plan: _Plan, name: str, total: int) -> None:
        self.plan = plan
        self.name = name
        self.total = total
        self.done = 0

    def __enter__(self) -> _Stage:
        self.started = time.perf_counter()
        self.plan.progress(self.name, 0, self.total)
        return self

    def advance(self, rows: int) -> None:
        self.done += rows
        self.plan.progress(self.name, self.done, self.total)

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        self.plan.stage_seconds[self.name] = round(seconds, 3)


def _insert_sql(table: str, columns: str) -> str:
    """SQLite's ``INSERT`` of one row into ``table`` (a comma-separated column list)."""
    placeholders = ", ".join("?" * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"


def _location_row(loc: LocationIn, now: Any) -> tuple[Any, ...]:
    return (*(getattr(loc, name) for name in _LOCATION_FIELDS), now, now)


def _product_row(product: DemoProduct, now: Any) -> tuple[Any, ...]:
    return (
        product.sku,
        product.ean,
        product.name,
        product.category,
        product.unit,
        True,
        now,
        now,
    )


def _ids_in_order(rows: Sequence[tuple[Any, ...]], keys: Sequence[str], what: str) -> list[int]:
    by_key = {key: id_ for id_, key in rows}
    try:
        return [by_key[key] for key in keys]
    except KeyError as exc:  # pragma: no cover - would mean a concurrent writer
        raise RuntimeError(f"{what} {exc.args[0]!r} vanished during the demo load") from exc


def _ledger_id_ranges(location_ids: list[int], plan: _Plan) -> Iterator[tuple[int, int]]:
    """Disjoint, inclusive location id ranges covering every location, one per block."""
    ids = sorted(location_ids)
    for start, stop in plan.blocks():
        yield ids[start], ids[stop - 1]


def _load_stock(
    opening: OpeningStock, plan: _Plan, location_ids: list[int], product_ids: list[int]
) -> None:
    """Every product at every location, then the opening ledger (inventory's bulk loader)."""
    total = len(plan.locations) * len(plan.products)
    with _Stage(plan, "stock", total) as stage, opening.writing_levels():
        for start, stop in plan.blocks():
            stage.advance(opening.write_levels(plan.stock(start, stop, location_ids, product_ids)))
    plan.levels, plan.movements, plan.units = opening.levels, opening.stocked, opening.units
    with _Stage(plan, "ledger", plan.movements) as stage, opening.writing_ledger():
        for lo, hi in _ledger_id_ranges(location_ids, plan):
            stage.advance(opening.write_ledger(lo, hi))
        _check_ledger(stage, plan)


def _check_empty(cur: Any, opening: OpeningStock) -> None:
    found = first_nonempty(cur, _TABLES) or opening.first_nonempty()
    if found is not None:
        raise DemoAlreadyLoaded(*found)


def _check_ledger(stage: _Stage, plan: _Plan) -> None:
    if stage.done != plan.movements:  # pragma: no cover - a bug, or a concurrent writer
        raise RuntimeError(
            f"opening ledger has {stage.done} rows but {plan.movements} stock levels have stock"
        )


# --------------------------------------------------------------------------------------------
# SQLite


def _load_sqlite(database_url: str, plan: _Plan) -> None:
    database = Database(database_url)
    try:
        raw = database.write_engine.raw_connection()
        try:
            conn: Any = raw.driver_connection  # sqlite3.Connection, isolation_level None
            cur = conn.cursor()
            # Bulk-load settings for this connection and this load only.
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-262144")
            # a long job: wait for the write lock as long as a long statement may run
            cur.execute(f"PRAGMA busy_timeout={int(database.timeouts.long_statement * 1000)}")
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    _sqlite_fill(cur, plan)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            finally:
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA cache_size=-65536")
                cur.close()
        finally:
            raw.close()
    finally:
        database.dispose()


def _sqlite_check_empty(cur: Any, opening: OpeningStock) -> None:
    try:
        _check_empty(cur, opening)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        table = str(exc).rpartition(":")[2].strip()
        raise ValueError(
            f"table {table!r} is missing; migrate the database before loading the demo"
        ) from exc


def _sqlite_fill(cur: Any, plan: _Plan) -> None:
    opening = OpeningStock(cur, plan.now)
    _sqlite_check_empty(cur, opening)
    now = plan.now_text

    with _Stage(plan, "locations", len(plan.locations)) as stage:
        cur.executemany(
            _insert_sql("locations", _LOCATION_COLUMNS),
            [_location_row(loc, now) for loc in plan.locations],
        )
        cur.execute("SELECT id, code FROM locations")
        location_ids = _ids_in_order(
            cur.fetchall(), [loc.code for loc in plan.locations], "location"
        )
        stage.advance(len(plan.locations))

    with _Stage(plan, "products", len(plan.products)) as stage:
        cur.executemany(
            _insert_sql("products", _PRODUCT_COLUMNS),
            [_product_row(product, now) for product in plan.products],
        )
        cur.execute("SELECT id, sku FROM products")
        product_ids = _ids_in_order(cur.fetchall(), [p.sku for p in plan.products], "product")
        stage.advance(len(plan.products))

    _load_stock(opening, plan, location_ids, product_ids)


# --------------------------------------------------------------------------------------------
# PostgreSQL


def libpq_url(database_url: str) -> str:
    """The plain libpq URL (``postgresql://...``) for a SQLAlchemy PostgreSQL URL."""
    url = make_url(postgres_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _load_postgres(database_url: str, plan: _Plan) -> None:
    import psycopg

    limits = Timeouts()
    connect_timeout = max(1, round(limits.connect))
    with (
        psycopg.connect(libpq_url(database_url), connect_timeout=connect_timeout) as conn,
        conn.transaction(),
    ):
        cur = conn.cursor()
        # a long job: explicit limit for its statements (COPY of millions of rows, ANALYZE)
        cur.execute(f"SET LOCAL statement_timeout = {int(limits.long_statement * 1000)}")
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        opening = OpeningStock(cur, plan.now)
        # Readers may go on; a second loader waits here, then finds the tables non-empty.
        try:
            cur.execute(f"LOCK TABLE {', '.join(_TABLES)} IN EXCLUSIVE MODE")
            opening.lock()
        except psycopg.errors.UndefinedTable as exc:
            raise ValueError(
                f"{exc.diag.message_primary}; migrate the database before loading the demo"
            ) from exc
        _check_empty(cur, opening)
        _postgres_fill(cur, plan, opening)
        cur.execute(f"ANALYZE {', '.join(_TABLES)}")
        opening.analyze()


def _postgres_fill(cur: Any, plan: _Plan, opening: OpeningStock) -> None:
    now = plan.now

    with _Stage(plan, "locations", len(plan.locations)) as stage:
        with cur.copy(f"COPY locations ({_LOCATION_COLUMNS}) FROM STDIN") as copy:
            for loc in plan.locations:
                copy.write_row(_location_row(loc, now))
        cur.execute("SELECT id, code FROM locations")
        location_ids = _ids_in_order(
            cur.fetchall(), [loc.code for loc in plan.locations], "location"
        )
        stage.advance(len(plan.locations))

    with _Stage(plan, "products", len(plan.products)) as stage:
        with cur.copy(f"COPY products ({_PRODUCT_COLUMNS}) FROM STDIN") as copy:
            for product in plan.products:
                copy.write_row(_product_row(product, now))
        cur.execute("SELECT id, sku FROM products")
        product_ids = _ids_in_order(cur.fetchall(), [p.sku for p in plan.products], "product")
        stage.advance(len(plan.products))

    _load_stock(opening, plan, location_ids, product_ids)
