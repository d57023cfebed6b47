"""A worker killed with SIGKILL in the middle of a file resumes from ``next_line`` without
applying anything twice, and the ledger reconciles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from sincro.catalog.models import Location, Product
from sincro.connectors.models import ErpFile, ErpMovementKey, LocationAlias, ProductAlias
from sincro.connectors.sap_files import service
from sincro.inventory.models import Movement, StockLevel
from tests.connectors.sap_files.conftest import World, write

WORKER = """
import sys
from sincro.connectors.sap_files import service
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.db import Database
cfg = SapFilesSource.model_validate_json(sys.argv[2])
service.process_file(Database(sys.argv[1]), cfg, int(sys.argv[3]))
"""
PRODUCTS, PLANTS = 30, 100


def _grid(world: World) -> None:
    with world.db.write() as s:
        for n in range(PRODUCTS):
            product = Product(sku=f"GRD-{n:04d}", name=f"Grade {n}", category="cabos", unit="UN")
            s.add(product)
            s.flush()
            s.add(
                ProductAlias(
                    source=world.cfg.code, external_code=str(800000 + n), product_id=product.id
                )
            )
        for n in range(PLANTS):
            location = Location(code=f"GR{n:04d}", kind="store", name=f"Loja {n}", city="Recife",
                                state="PE", latitude=-8.0, longitude=-34.9)  # fmt: skip
            s.add(location)
            s.flush()
            s.add(
                LocationAlias(
                    source=world.cfg.code, plant=str(5000 + n), storage="", location_id=location.id
                )
            )


def _register(world: World, name: str, text: str) -> int:
    path = write(world.cfg.inbox / name, text)
    with world.db.write() as s:
        return service.register_file(s, world.cfg, path).id


def _kill_midway(world: World, database_url: str, file_id: int, tmp_env: dict[str, str]) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, database_url, world.cfg.model_dump_json(), str(file_id)],
        env=tmp_env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with world.db.read() as s:
                f = s.get(ErpFile, file_id)
                assert f is not None
                if f.next_line > 0:
                    break
            assert proc.poll() is None, "the worker finished before it could be killed"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with world.db.read() as s:
        f = s.get(ErpFile, file_id)
        assert f is not None and f.state == "processing"
        assert 0 < f.next_line < f.rows_total, (f.next_line, f.rows_total)
        return f.next_line


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "SINCRO_LOG_JSON": "false"}


def test_killed_during_goods_movements(
    world: World, database_url: str, env: dict[str, str]
) -> None:
    _grid(world)
    world.cfg.chunk_rows = 25
    lines = ["MBLNR;MJAHR;ZEILE;BWART;MATNR;WERKS;LGORT;SHKZG;ERFMG;ERFME;BUDAT;CPUTM"]
    total = 1200
    for n in range(total):
        doc, item = 4900100000 + n // 100, n % 100 + 1
        where = f"{800000 + n % PRODUCTS};{5000 + n % PLANTS};0001"
        lines.append(f"{doc};2026;{item};101;{where};S;1,000;UN;20261122;080000")
    file_id = _register(world, "WMMBXY_big.csv", "\n".join(lines) + "\n")
    stopped_at = _kill_midway(world, database_url, file_id, env)
    outcome = service.process_file(world.db, world.cfg, file_id)
    assert outcome.state == "done" and outcome.rows_applied == total, stopped_at
    with world.db.read() as s:
        assert s.scalar(select(func.sum(StockLevel.on_hand))) == total
        assert s.scalar(select(func.count()).select_from(Movement)) == total
        assert s.scalar(select(func.count()).select_from(ErpMovementKey)) == total
    assert world.verify() == []


def test_killed_during_a_snapshot(world: World, database_url: str, env: dict[str, str]) -> None:
    _grid(world)
    world.cfg.snapshot_chunk_rows = 30
    rows = ["MATNR;WERKS;LGORT;LABST;INSME"]
    for p in range(PRODUCTS):
        for loc in range(PLANTS):
            rows.append(f"{800000 + p:018d};{5000 + loc};0001;5,000;1,000")
    file_id = _register(world, "MB52_20261122_0600.csv", "\n".join(rows) + "\n")
    stopped_at = _kill_midway(world, database_url, file_id, env)
    outcome = service.process_file(world.db, world.cfg, file_id)
    assert outcome.state == "done" and outcome.rows_applied == PRODUCTS * PLANTS, stopped_at
    with world.db.read() as s:
        levels = s.execute(select(StockLevel.on_hand, StockLevel.blocked_quality)).all()
        assert len(levels) == PRODUCTS * PLANTS and set(levels) == {(6, 1)}
        on_hand_rows = s.scalar(
            select(func.count()).select_from(Movement).where(Movement.bucket == "on_hand")
        )
        assert on_hand_rows == PRODUCTS * PLANTS  # one adjustment per position, never two
    assert world.verify() == []


def test_a_second_worker_waits_for_the_first(world: World, database_url: str) -> None:
    """Two processes on the same file: the source lock makes the second a no-op."""
    file_id = _register(
        world, "MB52_20261122_0600.csv", "MATNR;WERKS;LGORT;LABST\n4711;2001;0001;5\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, world.cfg.model_dump_json(), str(file_id)]
        )
        for _ in range(2)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert world.level("CEL-000001", "LJ0001")["on_hand"] == 5
    with world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Movement)) == 1
