"""The documents sync's database side alone: the simulated document feed applied page by page.

    .venv/bin/python -m bench.documents_apply [--documents 100000] [--page-size 1000]

The document ERP's feed (:class:`sincro.simulators.rest.DocumentsSimulator`: every first
version, then ~12 % second and ~2 % third versions, so ~14,000 earlier versions become
superseded by a later page) is mapped as ``docs_json.yaml`` maps it, before the clock starts,
and then applied to a scratch PostgreSQL database holding the simulator's products with
:func:`sincro.catalog.documents.apply_documents`, one transaction a page, as the sync does
(no HTTP, no mapping). Printed: wall seconds, this process's CPU seconds and the CPU of the
PostgreSQL backend that served it, for the first versions' pages and for the later versions'
pages (the ones that flip earlier versions) apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
import uuid
from collections.abc import Sequence

import psycopg
from sqlalchemy import text

from bench.sync_full import ADMIN_URL, admin, cpu_seconds, url_of
from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.catalog.models import Product
from sincro.connectors.rest.mapping import html_to_text
from sincro.db import Database
from sincro.demo.catalog import DemoProduct
from sincro.migrate import upgrade
from sincro.simulators.rest import DocumentsSimulator

KINDS = {"datasheet": "datasheet", "leaflet": "leaflet", "manual": "manual", "ficha": "datasheet"}


def feed(documents: int) -> tuple[list[DemoProduct], list[DocumentIn]]:
    """The simulator's products and its feed, oldest first, mapped as the sync maps it."""
    simulator = DocumentsSimulator(documents=documents)  # bound, never served
    try:
        records = [simulator.record(p) for p in range(len(simulator.feed))]
    finally:
        simulator.server.server_close()
    return simulator.products, [
        DocumentIn(
            external_id=r["id"],
            title=r["title"][:300],
            body=html_to_text(r["body_html"]),
            version=r["version"],
            sku=r["sku"].upper(),
            language=r["language"],
            effective_date=dt.date.fromisoformat(r["effective_date"]),
            kind=KINDS[r["type"]],
        )
        for r in records
    ]


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backends(name: str) -> dict[int, float]:
    """CPU seconds so far of each backend connected to database ``name``."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return {pid: cpu_seconds(pid) for (pid,) in pids}


def apply_pages(
    db: Database, name: str, pages: Sequence[Sequence[DocumentIn]]
) -> tuple[float, float, float]:
    """Wall, client CPU and backend CPU seconds of applying ``pages``, a transaction each."""
    before, wall, cpu = backends(name), time.perf_counter(), own_cpu()
    for page in pages:
        with db.write() as session:
            apply_documents(session, "docs", page)
    wall, cpu = time.perf_counter() - wall, own_cpu() - cpu
    pg = sum(seconds - before.get(pid, 0.0) for pid, seconds in backends(name).items())
    return wall, cpu, pg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    products, documents = feed(args.documents)
    first = [d for d in documents if d.version == 1]
    later = [d for d in documents if d.version > 1]
    size = args.page_size
    name = f"sincro_bench_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        upgrade(url_of(name))
        db = Database(url_of(name), pool_size=1)
        try:
            with db.write() as session:  # as the full sync finds them: its SKUs are known
                session.add_all(
                    Product(sku=p.sku, ean=p.ean, name=p.name, category=p.category)
                    for p in products
                )
            rows = []
            for label, part in (("first versions", first), ("later versions", later)):
                pages = [part[i : i + size] for i in range(0, len(part), size)]
                rows.append((label, len(part), *apply_pages(db, name, pages)))
            with db.read() as session:
                superseded = session.scalar(
                    text("SELECT count(*) FROM search_entries WHERE superseded")
                )
        finally:
            db.dispose()
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"documents apply, pages of {size}, PostgreSQL; {superseded} superseded in the index")
    print(f"{'part':<16}{'versions':>10}{'wall s':>9}{'client CPU s':>14}{'PG CPU s':>10}")
    for label, count, wall, cpu, pg in rows:
        print(f"{label:<16}{count:>10}{wall:>9.2f}{cpu:>14.2f}{pg:>10.2f}")
    totals = [sum(r[i] for r in rows) for i in range(1, 5)]
    print(f"{'total':<16}{totals[0]:>10}{totals[1]:>9.2f}{totals[2]:>14.2f}{totals[3]:>10.2f}")


if __name__ == "__main__":
    main()
