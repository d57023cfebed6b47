"""Issue #9 reports at scale: new customers, defaulters and billing over 200k customers and
~2M receivables, on a fresh SQLite file and a fresh PostgreSQL database (migrated).

Synthetic data (seeded): customers spread over the 27 UFs (weighted like the population),
joined over five years; 2% merged into another record; ~10 receivables each, issued monthly,
due 30 days later, most paid (some late), ~6% still open. Each report is timed cold (first run)
and warm (best of 3). Usage::

    nice -n 10 python -m bench.reports --customers 200000 --per-customer 10 [--db sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from sincro.customers import reporting
from sincro.customers.models import Customer
from sincro.db import Database
from sincro.migrate import upgrade

UF_WEIGHTS = {
    "SP": 22, "MG": 10, "RJ": 8, "BA": 7, "PR": 5, "RS": 5, "PE": 4, "CE": 4, "PA": 4, "SC": 3,
    "GO": 3, "MA": 3, "AM": 2, "ES": 2, "PB": 2, "RN": 2, "MT": 2, "AL": 2, "PI": 2, "DF": 2,
    "MS": 1, "SE": 1, "RO": 1, "TO": 1, "AC": 1, "AP": 1, "RR": 1,
}  # fmt: skip
TODAY = dt.date(2026, 12, 6)
START = dt.date(2021, 12, 1)


def customers(count: int, rng: random.Random) -> list[dict[str, Any]]:
    states = rng.choices(list(UF_WEIGHTS), weights=list(UF_WEIGHTS.values()), k=count)
    span = (TODAY - START).days
    rows = []
    for i in range(count):
        merged = i + 1 if i > 100 and rng.random() < 0.02 else None
        rows.append(
            {
                "id": i + 1,
                "source": "bench",
                "external_code": f"C{i + 1}",
                "name": f"Cliente {i + 1}",
                "state": states[i],
                "city": "Cidade",
                "customer_since": START + dt.timedelta(days=rng.randrange(span)),
                "merged_into_id": rng.randrange(1, i) if merged else None,
            }
        )
    return rows


def receivables(people: list[dict[str, Any]], per: int, rng: random.Random) -> list[tuple]:
    rows = []
    number = 0
    for person in people:
        first = person["customer_since"]
        for k in range(per):
            issued = first + dt.timedelta(days=30 * k + rng.randrange(5))
            if issued > TODAY:
                break
            number += 1
            due = issued + dt.timedelta(days=30)
            amount = Decimal(rng.randrange(5_000, 50_000)) / 100
            roll = rng.random()
            if due < TODAY and roll < 0.94:
                paid = min(TODAY, due + dt.timedelta(days=int(rng.expovariate(1 / 6)) - 3))
                status, balance = "paid", Decimal(0)
            else:
                paid, status, balance = None, "open", amount
            code = f"C{person['id']}"
            rows.append((number, "bench", f"R{number}", str(number), person["id"], code,
                         issued, due, paid, status, amount, balance))  # fmt: skip
    return rows


COLUMNS = ("id", "source", "external_code", "number", "customer_id", "customer_code",
           "issued_on", "due_date", "paid_on", "status", "amount", "balance")  # fmt: skip


def load(db: Database, people: list[dict[str, Any]], titles: list[tuple]) -> float:
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with db.write() as session:
        for chunk in range(0, len(people), 20_000):
            session.execute(
                insert(Customer),
                [
                    {**p, "created_at": now, "updated_at": now}
                    for p in people[chunk : chunk + 20_000]
                ],
            )
        raw = session.connection().connection.driver_connection
        if db.is_sqlite:
            columns = ", ".join((*COLUMNS, "updated_at"))
            marks = ", ".join("?" * (len(COLUMNS) + 1))
            stamp = now.replace(tzinfo=None).isoformat(" ")
            raw.executemany(  # type: ignore[union-attr]
                f"INSERT INTO receivables ({columns}) VALUES ({marks})",
                (
                    (*row[:6], *(d.isoformat() if d else None for d in row[6:9]), row[9],
                     str(row[10]), str(row[11]), stamp)
                    for row in titles
                ),
            )  # fmt: skip
        else:
            columns = ", ".join((*COLUMNS, "updated_at"))
            statement = f"COPY receivables ({columns}) FROM STDIN"
            raw.execute("SET LOCAL statement_timeout = 0")  # type: ignore[union-attr]
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in titles:
                    copy.write_row((*row, now))
    with db.write() as session:
        if not db.is_sqlite:
            session.execute(text("SET LOCAL statement_timeout = 0"))
        session.execute(text("ANALYZE"))
    return time.perf_counter() - started


def timed(work: Any) -> tuple[float, float]:
    started = time.perf_counter()
    work()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        warm.append(time.perf_counter() - started)
    return cold, min(warm)


def run(kind: str, people: list[dict[str, Any]], titles: list[tuple]) -> None:
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-reports-"))
        url = f"sqlite:///{folder / 'reports.sqlite'}"
        cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    else:
        from tests.services import create_pg_database, drop_pg_database

        url = create_pg_database()
        cleanup = lambda: drop_pg_database(url)  # noqa: E731
    try:
        upgrade(url)
        db = Database(url)
        seconds = load(db, people, titles)
        print(f"[{kind}] loaded {len(people):,} customers, {len(titles):,} receivables "
              f"in {seconds:.1f} s", flush=True)  # fmt: skip
        cases = {
            "new customers, 12 months by week": lambda s: reporting.new_customers(
                s, dt.date(2025, 12, 7), TODAY, "week"
            ),
            "new customers, 36 months by month": lambda s: reporting.new_customers(
                s, dt.date(2023, 12, 1), TODAY, "month"
            ),
            "defaulters today": lambda s: reporting.defaulters(s, TODAY, 5),
            "defaulters as of a year ago": lambda s: reporting.defaulters(
                s, dt.date(2025, 12, 6), 5
            ),
            "billing, 12 months": lambda s: reporting.billing(s, dt.date(2026, 1, 1), TODAY, TODAY),
            "billing, 36 months": lambda s: reporting.billing(s, dt.date(2024, 1, 1), TODAY, TODAY),
        }
        for name, case in cases.items():

            def work(case: Any = case) -> None:
                with db.read() as session:
                    case(session)

            cold, warm = timed(work)
            print(
                f"[{kind}] {name}: cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms", flush=True
            )
        db.dispose()
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--per-customer", type=int, default=10)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    rng = random.Random(9)
    started = time.perf_counter()
    people = customers(args.customers, rng)
    titles = receivables(people, args.per_customer, rng)
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(kind, people, titles)


if __name__ == "__main__":
    main()
