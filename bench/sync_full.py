"""Full sync of the simulated REST ERPs into PostgreSQL: sequential vs parallel.

    .venv/bin/python -m bench.sync_full [--latency-ms 50] [--documents 100000]
        [--customers 20000] [--stock-stores 1800] [--concurrency 8] [--stock-parts 2]
        [--skip-sequential]

What it does, on a scratch database ``sincro_bench_<hex>`` (created, then dropped):

1. ``sincro.migrate.upgrade`` and ``sincro.demo.loader.load_demo`` (1,800 stores, 10 DCs,
   1,000 products), then a second copy of that database (``CREATE DATABASE … TEMPLATE``), so
   both runs start from the same state.
2. ``sincro simulate erp`` in a child process (real sockets, ``--latency-ms`` per call):
   Protheus (SB1 1,000 products, SA1 customers, SE1 receivables, SB2 balances of
   ``--stock-stores`` stores + 10 DCs x 1,000 SKUs) and the JSON document ERP.
3. The same full sync twice with :func:`sincro.connectors.orchestrator.run_sources`:
   sequential (one source, entity and page at a time) and parallel (sources and entities at
   once, ``--concurrency`` pages in flight per entity, the stock entity's pages in
   ``--stock-parts`` ranges side by side; by default each entity and each range in a worker
   process, as Celery workers run them), and prints both side by side with the CPU seconds
   that Sincro, the simulators and PostgreSQL (the backends serving the run's database) used.
   ``--skip-sequential`` runs the parallel leg only (cheaper when iterating).
4. Per entity, the CPU seconds Sincro spent on it in the parallel run (thread CPU of the
   thread that applies its pages plus its fetch threads' share,
   :class:`sincro.connectors.orchestrator.CpuMeter`) and the same per 1,000 records: the figure
   that holds on a shared machine, where wall clock does not.

SAP files are not part of this run (see the notes printed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

import httpx
import psycopg

from sincro.config import Settings
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.orchestrator import ensure_source, run_sources
from sincro.db import Database
from sincro.demo.loader import load_demo
from sincro.migrate import upgrade
from sincro.simulators.rest import alias_demo_locations

ADMIN_URL = os.environ.get("SINCRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
        try:
            with socket.socket() as b:
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no pair of free ports")


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def url_of(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def start_simulators(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from sincro.cli import main; main()",
        "simulate",
        "erp",
        f"--port-base={port}",
        f"--latency-ms={args.latency_ms}",
        f"--documents={args.documents}",
        f"--customers={args.customers}",
        f"--stores={args.stock_stores}",
        "--no-sap",
    ]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(600):
        try:
            for p in (port, port + 1):
                httpx.get(f"http://127.0.0.1:{p}/_health", timeout=1).raise_for_status()
            return child
        except httpx.HTTPError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("simulators did not start")


def connectors(port: int, args: argparse.Namespace) -> ConnectorsConfig:
    common: dict[str, Any] = {
        "max_concurrency": args.concurrency,
        "timeout_seconds": 30,
        "run_budget_seconds": 3600,
        "retry": {"max_attempts": 5, "base_delay": 0.2, "max_delay": 5},
    }
    return ConnectorsConfig.model_validate(
        {
            "sources": [
                {
                    "code": "protheus",
                    "kind": "protheus_rest",
                    "name": "Protheus (bench)",
                    "base_url": f"http://127.0.0.1:{port}",
                    "mapping": "protheus.yaml",
                    "page_size": args.page_size,
                    "entities": [
                        {"name": "products"},
                        {
                            "name": "stock",
                            "page_size": args.stock_page_size,
                            "parts": args.stock_parts,
                        },
                        {"name": "customers"},
                        {"name": "receivables"},
                    ],
                    **common,
                },
                {
                    "code": "docs",
                    "kind": "json_rest",
                    "name": "Documentos (bench)",
                    "base_url": f"http://127.0.0.1:{port + 1}",
                    "mapping": "docs_json.yaml",
                    "page_size": args.page_size,
                    "entities": [{"name": "documents"}],
                    **common,
                },
            ]
        }
    )


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds used so far: this process and its finished children, or process ``pid``."""
    if pid is None:
        me, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresCpu:
    """CPU seconds of the PostgreSQL client backends serving one database (this machine's
    server; autovacuum, whose timing is chance, left out): polls ``pg_stat_activity`` and
    keeps each backend's latest /proc CPU figure. A backend
    that ends between two polls loses at most its last interval; the run's pools keep theirs
    open to the end, so the figure is close."""

    def __init__(self, database: str, interval: float = 0.25) -> None:
        self.database, self.interval = database, interval
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            while True:
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s"
                    " AND backend_type = 'client backend'",
                    (self.database,),
                ).fetchall()
                for (pid,) in pids:
                    with contextlib.suppress(OSError):  # ended meanwhile
                        self.seen[pid] = cpu_seconds(pid)
                if self._stop.wait(self.interval):
                    return

    def __enter__(self) -> PostgresCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def run(
    url: str,
    config: ConnectorsConfig,
    parallel: bool,
    workdir: str,
    processes: bool,
    simulator_pid: int,
) -> dict[str, Any]:
    db = Database(url)
    with db.write() as session:
        for source in config.sources:
            ensure_source(session, source)
        alias_demo_locations(session, "protheus")
    settings = Settings(database_url=url, var_dir=workdir, log_json=False)
    cpu, sim_cpu = cpu_seconds(), cpu_seconds(simulator_pid)
    started = time.perf_counter()
    with PostgresCpu(url.rsplit("/", 1)[1]) as pg:
        results = run_sources(settings, config, parallel=parallel, db=db, processes=processes)
        seconds = time.perf_counter() - started
        cpu, sim_cpu = cpu_seconds() - cpu, cpu_seconds(simulator_pid) - sim_cpu
    db.dispose()
    entities = {
        f"{e.source}/{e.entity}": (
            e.status,
            e.records_in,
            e.applied,
            e.rejected,
            e.pages,
            e.seconds,
            e.cpu_seconds,
        )
        for r in results
        for e in r.entities
    }
    return {
        "seconds": seconds,
        "entities": entities,
        "cpu": cpu,
        "simulator_cpu": sim_cpu,
        "postgres_cpu": pg.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--stock-stores", type=int, default=1800)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--stock-page-size", type=int, default=5000)
    parser.add_argument(
        "--stock-parts",
        type=int,
        default=2,
        help="page ranges of the stock entity synced side by side in the parallel run",
    )
    parser.add_argument(
        "--parallel-mode",
        choices=["processes", "threads"],
        default="processes",
        help="parallel run: a process per source (as Celery workers) or threads in one",
    )
    parser.add_argument("--skip-sequential", action="store_true", help="run the parallel leg only")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch databases")
    args = parser.parse_args()

    name = f"sincro_bench_{uuid.uuid4().hex[:8]}"
    copy = name + "_b"
    port = free_port_pair()
    child = None
    workdir = ""
    try:
        admin(f'CREATE DATABASE "{name}"')
        t = time.perf_counter()
        upgrade(url_of(name))
        summary = load_demo(url_of(name))
        print(
            f"demo loaded: {summary.locations} locations, {summary.products} products, "
            f"{summary.stock_levels} stock levels in {time.perf_counter() - t:.1f}s"
        )
        admin(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
        child = start_simulators(args, port)
        config = connectors(port, args)
        workdir = tempfile.mkdtemp(prefix=f"{name}-")
        processes = args.parallel_mode == "processes"
        sequential = (
            None
            if args.skip_sequential
            else run(url_of(name), config, False, workdir, False, child.pid)
        )
        parallel = run(url_of(copy), config, True, workdir, processes, child.pid)
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
        if not args.keep:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            for db_name in (name, copy):
                admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    report(args, sequential, parallel)


def report(
    args: argparse.Namespace, sequential: dict[str, Any] | None, parallel: dict[str, Any]
) -> None:
    """The old table (entity, records, seconds sequential/parallel, totals), then the CPU per
    entity of the parallel run. Without a sequential leg its columns show "-"."""
    print(
        f"\nFull sync, {args.latency_ms:g} ms per call, pages of {args.page_size} "
        f"(stock {args.stock_page_size} in {args.stock_parts} ranges), {args.concurrency} "
        "requests in flight per entity\n"
    )
    header = f"{'entity':<22}{'records':>10}{'applied':>10}{'rejected':>9}{'pages':>7}"
    print(header + f"{'sequential s':>14}{'parallel s':>12}")
    seq = sequential["entities"] if sequential else {}
    for key, p in parallel["entities"].items():
        status, records, applied, rejected, pages, seconds, _ = p
        s = seq.get(key)
        if s is not None:
            assert s[1:4] == (records, applied, rejected), (key, s, p)
        shown = f"{s[5]:>14.1f}" if s else f"{'-':>14}"
        statuses = f"{s[0]}/{status}" if s else status
        print(
            f"{key:<22}{records:>10}{applied:>10}{rejected:>9}{pages:>7}"
            f"{shown}{seconds:>12.1f}  {statuses}"
        )
    p_total = parallel["seconds"]
    if sequential:
        s_total = sequential["seconds"]
        speed = f"   speed-up x{s_total / p_total:.1f}"
        print(f"\n{'TOTAL (wall)':<58}{s_total:>14.1f}{p_total:>12.1f}{speed}")
    else:
        print(f"\n{'TOTAL (wall)':<58}{'-':>14}{p_total:>12.1f}")
    for label, key in (
        ("CPU s, Sincro", "cpu"),
        ("CPU s, simulators", "simulator_cpu"),
        ("CPU s, PostgreSQL (the run's backends)", "postgres_cpu"),
    ):
        shown = f"{sequential[key]:>14.1f}" if sequential else f"{'-':>14}"
        print(f"{label:<58}{shown}{parallel[key]:>12.1f}")
    print(f"parallel mode: {args.parallel_mode}; load average {os.getloadavg()[0]:.2f}")
    print("\nSincro CPU per entity, parallel run (thread CPU of its pages and fetches):")
    print(f"{'entity':<22}{'records':>10}{'CPU s':>9}{'CPU s/1,000':>13}{'µs/record':>11}")
    for key, p in parallel["entities"].items():
        records, cpu = p[1], p[6]
        per_k = cpu / records * 1000 if records else 0.0
        print(f"{key:<22}{records:>10}{cpu:>9.2f}{per_k:>13.3f}{per_k * 1000:>11.1f}")
    attributed = sum(p[6] for p in parallel["entities"].values())
    print(f"{'(not attributed: start-up, imports, pools)':<41}{parallel['cpu'] - attributed:>9.2f}")
    print("\nSAP files: not included (the SAP connector is measured by its own benchmark).")


if __name__ == "__main__":
    main()
