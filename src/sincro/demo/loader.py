"""Bulk loader for the demo operator: locations, products, a stock level for every product at
every location, and the opening ledger.

The ORM would need minutes for 1.8 million stock levels, so this module talks to the DBAPI
directly: ``executemany`` in large chunks inside one transaction on SQLite, ``COPY FROM STDIN``
on PostgreSQL. Everything happens in a single transaction, so a failed load leaves the
database as it was.

For every stock level with ``on_hand > 0`` one ``movements`` row (bucket ``on_hand``, reason
``opening``, source ``demo``) records the opening quantity, so levels reconcile with the
ledger. The opening load writes no events.
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
from sincro.db import Database, postgres_url, utcnow
from sincro.demo.catalog import DemoProduct, generate_products
from sincro.demo.operator import generate_locations, stock_quantities

Progress = Callable[[str, int, int], None]

# Tables that must be empty before loading; checked in this order.
_TABLES = ("locations", "products", "stock_levels", "movements")

# Stock levels are generated and written per block of locations, about this many rows a block.
_BLOCK_ROWS = 100_000

_LOCATION_FIELDS = tuple(LocationIn.model_fields)
_LOCATION_COLUMNS = ", ".join((*_LOCATION_FIELDS, "created_at", "updated_at"))
_PRODUCT_COLUMNS = "sku, ean, name, category, unit, active, created_at, updated_at"
_LEVEL_COLUMNS = (
    "product_id, location_id, on_hand, reserved, blocked_quality, blocked_stock,"
    " blocked_returns, safety_stock, version, as_of, updated_at"
)
_LEDGER_SQL = (
    "INSERT INTO movements (product_id, location_id, bucket, quantity, reason, source,"
    " idempotency_key, reference, occurred_at, recorded_at, erp_known_at)"
    " SELECT product_id, location_id, 'on_hand', on_hand, 'opening', 'demo', NULL, NULL,"
    " {now}, {now}, {now}"  # the opening stock is what the ERPs already know
    " FROM stock_levels WHERE location_id >= {lo} AND location_id <= {hi} AND on_hand > 0"
    " ORDER BY location_id, product_id"
)


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


def _sqlite_check_empty(cur: Any) -> None:
    for table in _TABLES:
        try:
            cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1000000)")
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            raise ValueError(
                f"table {table!r} is missing; migrate the database before loading the demo"
            ) from exc
        rows = cur.fetchone()[0]
        if rows:
            raise DemoAlreadyLoaded(table, rows)


def _sqlite_fill(cur: Any, plan: _Plan) -> None:
    _sqlite_check_empty(cur)
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

    level_sql = (
        f"INSERT INTO stock_levels ({_LEVEL_COLUMNS}) VALUES (?, ?, ?, 0, 0, 0, 0, ?, 1, ?, ?)"
    )
    with _Stage(plan, "stock", len(plan.locations) * len(plan.products)) as stage:
        for start, stop in plan.blocks():
            rows: list[tuple[int, int, int, int, str, str]] = []
            for location_index in range(start, stop):
                location_id = location_ids[location_index]
                for product_id, (on_hand, safety) in zip(
                    product_ids, plan.quantities(location_index), strict=True
                ):
                    rows.append((product_id, location_id, on_hand, safety, now, now))
                    if on_hand:
                        plan.movements += 1
                        plan.units += on_hand
            cur.executemany(level_sql, rows)
            plan.levels += len(rows)
            stage.advance(len(rows))

    with _Stage(plan, "ledger", plan.movements) as stage:
        for lo, hi in _ledger_id_ranges(location_ids, plan):
            cur.execute(_LEDGER_SQL.format(now="?", lo="?", hi="?"), (now, now, now, lo, hi))
            stage.advance(cur.rowcount)
        _check_ledger(stage, plan)


# --------------------------------------------------------------------------------------------
# PostgreSQL


def _libpq_url(database_url: str) -> str:
    """The plain libpq URL (``postgresql://...``) for a SQLAlchemy PostgreSQL URL."""
    url = make_url(postgres_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _load_postgres(database_url: str, plan: _Plan) -> None:
    import psycopg

    with psycopg.connect(_libpq_url(database_url)) as conn, conn.transaction():
        cur = conn.cursor()
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Readers may go on; a second loader waits here, then finds the tables non-empty.
        try:
            cur.execute(f"LOCK TABLE {', '.join(_TABLES)} IN EXCLUSIVE MODE")
        except psycopg.errors.UndefinedTable as exc:
            raise ValueError(
                f"{exc.diag.message_primary}; migrate the database before loading the demo"
            ) from exc
        for table in _TABLES:
            cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1000000) AS t")
            row = cur.fetchone()
            if row and row[0]:
                raise DemoAlreadyLoaded(table, row[0])
        _postgres_fill(conn, cur, plan)
        cur.execute("ANALYZE locations, products, stock_levels, movements")


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A foreign key, unique constraint or index dropped for the load and re-created after."""

    drop: str
    create: str


def _defer_constraints(conn: Any, cur: Any, table: str) -> list[_Deferred]:
    """Drop ``table``'s foreign keys, unique constraints and secondary indexes (not its primary
    key) and return how to re-create them. Building an index once after the load is several
    times faster than maintaining it row by row; checking a foreign key once after the load is
    one join instead of two look-ups per row. Inside the load's transaction, so a failure
    restores everything. Without the privilege to alter the table, nothing is dropped."""
    from psycopg import errors, sql

    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
        (table,),
    )
    deferred = [
        _Deferred(
            drop=sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}")
            .format(sql.Identifier(table), sql.Identifier(name))
            .as_string(conn),
            create=sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}")
            .format(sql.Identifier(table), sql.Identifier(name), sql.SQL(definition))
            .as_string(conn),
        )
        for name, definition in cur.fetchall()
    ]
    cur.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
        " WHERE indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY 1",
        (table,),
    )
    deferred += [
        _Deferred(drop=f"DROP INDEX {name}", create=definition)
        for name, definition in cur.fetchall()
    ]
    try:
        with conn.transaction():  # a savepoint
            for item in deferred:
                cur.execute(item.drop)
    except errors.InsufficientPrivilege:
        return []  # not the owner: load with the constraints in place (slower, same result)
    return deferred


def _restore_constraints(cur: Any, deferred: list[_Deferred]) -> None:
    # Indexes first (unique and plain), then foreign keys.
    for item in sorted(deferred, key=lambda d: "FOREIGN KEY" in d.create):
        cur.execute(item.create)


def _postgres_fill(conn: Any, cur: Any, plan: _Plan) -> None:
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

    # COPY text format, assembled by hand: much faster than adapting 1.8M rows one by one.
    tail = f"\t1\t{plan.now_text}\t{plan.now_text}\n"
    with _Stage(plan, "stock", len(plan.locations) * len(plan.products)) as stage:
        deferred = _defer_constraints(conn, cur, "stock_levels")
        with cur.copy(f"COPY stock_levels ({_LEVEL_COLUMNS}) FROM STDIN") as copy:
            for start, stop in plan.blocks():
                lines: list[str] = []
                for location_index in range(start, stop):
                    middle = f"\t{location_ids[location_index]}\t"
                    for product_id, (on_hand, safety) in zip(
                        product_ids, plan.quantities(location_index), strict=True
                    ):
                        lines.append(f"{product_id}{middle}{on_hand}\t0\t0\t0\t0\t{safety}{tail}")
                        if on_hand:
                            plan.movements += 1
                            plan.units += on_hand
                copy.write("".join(lines))
                plan.levels += len(lines)
                stage.advance(len(lines))
        _restore_constraints(cur, deferred)  # the ledger pass reads by location

    with _Stage(plan, "ledger", plan.movements) as stage:
        deferred = _defer_constraints(conn, cur, "movements")
        for lo, hi in _ledger_id_ranges(location_ids, plan):
            cur.execute(_LEDGER_SQL.format(now="%s", lo="%s", hi="%s"), (now, now, now, lo, hi))
            stage.advance(cur.rowcount)
        _check_ledger(stage, plan)
        _restore_constraints(cur, deferred)
