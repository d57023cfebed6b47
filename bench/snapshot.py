"""Benchmark: ingest and reconcile a full MB52 snapshot of the demo operator (1,810 locations x
1,000 products = 1.81 million positions), on PostgreSQL or SQLite.

    .venv/bin/python -m bench.snapshot --backend postgresql
    .venv/bin/python -m bench.snapshot --backend sqlite

It creates a fresh database, loads the demo, gives the source its aliases, writes the snapshot
(pt-BR headers, decimal comma, 1 % of positions drifted, as of now), then ingests it in a child
process and reports wall time and that process's peak RSS. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from pathlib import Path
from sincro.connectors.sap_files import service
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.db import Database
cfg = SapFilesSource.model_validate_json(sys.argv[2])
db = Database(sys.argv[1])
started = time.perf_counter()
outcome = service.ingest_path(db, cfg, Path(sys.argv[3]))
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the (large) parent
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
peak = int(hwm.split()[1]) / 1024
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(peak),
                  "state": outcome.state, "applied": outcome.rows_applied,
                  "rejected": outcome.rows_rejected, "details": str(outcome.details)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()

    from tests.services import create_pg_database, drop_pg_database

    from sincro.connectors.sap_files.config import SapFilesSource
    from sincro.connectors.sap_files.formats import format_quantity, pad_matnr
    from sincro.db import Database, utcnow
    from sincro.demo.loader import load_demo
    from sincro.migrate import upgrade
    from sincro.simulators.sap_files import PT_HEADER, ensure_demo_aliases

    work = Path(tempfile.mkdtemp(prefix="sap-bench-"))
    url = create_pg_database() if args.backend == "postgresql" else f"sqlite:///{work}/b.sqlite"
    try:
        upgrade(url)
        started = time.perf_counter()
        summary = load_demo(url, stores=args.stores, dcs=10, products=1000)
        print(
            f"demo loaded: {summary.stock_levels:,} levels in {time.perf_counter() - started:.1f}s"
        )
        cfg = SapFilesSource(
            code="sap-bench", kind="sap_files", name="SAP bench", inbox=work / "inbox",
            outbox=work / "outbox", snapshot_chunk_rows=args.chunk, drift_alert_units=10**9,
        )  # fmt: skip
        cfg.ensure_folders()
        db = Database(url)
        with db.write() as session:
            from sincro.connectors.sap_files import repository

            repository.ensure_source(session, cfg)
            ensure_demo_aliases(session, cfg.code)
        with db.read() as session:
            from sqlalchemy import text

            matnr = dict(
                session.execute(
                    text("SELECT product_id, external_code FROM product_aliases WHERE source = :s"),
                    {"s": cfg.code},
                ).all()
            )
            plant = dict(
                session.execute(
                    text("SELECT location_id, plant FROM location_aliases WHERE source = :s"),
                    {"s": cfg.code},
                ).all()
            )
            levels = session.execute(
                text("SELECT product_id, location_id, on_hand FROM stock_levels ORDER BY id")
            ).all()
        as_of = utcnow().astimezone(cfg.tz)
        rng = random.Random(1)
        path = work / f"MB52_{as_of:%Y%m%d_%H%M%S}.csv"
        with path.open("w", encoding="latin-1", newline="") as out:
            out.write(f"Lista de estoques em depósito\r\nData: {as_of:%d.%m.%Y %H:%M:%S}\r\n\r\n")
            out.write(";".join(PT_HEADER) + "\r\n")
            for product_id, location_id, on_hand in levels:
                qty = on_hand + (rng.randint(1, 5) if rng.random() < 0.01 else 0)
                out.write(
                    f"{pad_matnr(matnr[product_id])};{plant[location_id]};0001;"
                    f"{format_quantity(qty)};0,000;0,000;0,000;0,000;UN\r\n"
                )
        del levels
        size_mb = path.stat().st_size / 2**20
        print(f"snapshot written: {path.name}, {size_mb:.0f} MB")
        db.dispose()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, url, cfg.model_dump_json(), str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        report = json.loads(result.stdout.strip().splitlines()[-1])
        print(json.dumps({"backend": args.backend, "positions": len(matnr) * len(plant), **report}))
        db = Database(url)
        with db.read() as session:
            from sincro.inventory import service as inventory

            started = time.perf_counter()
            bad = inventory.verify(session)
            print(f"verify: {len(bad)} mismatches ({time.perf_counter() - started:.1f}s)")
            print(
                session.execute(
                    text(
                        "SELECT positions, positions_with_drift, units_drift_abs FROM"
                        " reconciliation_reports"
                    )
                ).all()
            )
        db.dispose()
    finally:
        if args.backend == "postgresql":
            drop_pg_database(url)


if __name__ == "__main__":
    main()
