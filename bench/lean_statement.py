"""PostgreSQL CPU of the lean reservation statement alone: one connection runs the storm's
exact statement (``lean.PG_KEYED``, prepared, a new Idempotency-Key each time) ``--count``
times over 20 hot levels of one store, and the backend's own CPU (``/proc``) is divided by the
count. No HTTP, no Python server, no hot-row waits: the figure to compare schema or statement
changes side by side, repeated in alternating ``--rounds`` on a loaded machine.

``synchronous_commit`` is off for the measuring session by default, so the figure is the
statement's work and not the WAL flush the server does at each commit (``--sync`` keeps it on:
the flush's CPU then lands on the same backend, since a lone connection has no group commit).

    python -m bench.lean_statement [--count 2000 --rounds 3 --sync]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import uuid
from typing import Any

import psycopg

from bench.harness import fresh_database, log, query_rows
from sincro.inventory import lean
from sincro.pgasync import conninfo

HOT = 20


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a server process on this machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _params(product_id: int, location_id: int, now: dt.datetime) -> dict[str, Any]:
    req = lean.LeanReservation(
        "key:bench",
        1,
        "SKU",
        "STORE",
        1,
        3600,
        idempotency=("reservations:1", str(uuid.uuid4()), "0" * 64),
    )
    params, _ = lean._params(req, (product_id, location_id))
    params["now"], params["exp"] = now, now + dt.timedelta(hours=1)  # never due meanwhile
    return params


def measure(url: str, levels: list[tuple[int, int]], count: int, sync: bool) -> float:
    """Backend CPU microseconds per statement over ``count`` runs (after a warm-up that makes
    the server switch to the statement's generic plan)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch = [_params(*levels[i % len(levels)], now) for i in range(count + 10)]
    with psycopg.connect(conninfo(url), autocommit=True, prepare_threshold=0) as conn:
        if not sync:
            conn.execute("SET synchronous_commit = off")
        pid = conn.info.backend_pid
        cur = conn.cursor()
        for params in batch[:10]:
            cur.execute(lean.PG_KEYED.encode(), params, prepare=True)
        started = _backend_cpu(pid)
        for params in batch[10:]:
            cur.execute(lean.PG_KEYED.encode(), params, prepare=True)
            if cur.fetchone()[0] != 1:  # type: ignore[index]
                raise RuntimeError("a hold was refused: the levels ran out")
        return (_backend_cpu(pid) - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sync", action="store_true", help="keep synchronous_commit on")
    args = parser.parse_args()
    with fresh_database("postgresql", stores=2, dcs=1, products=HOT) as db:
        rows = query_rows(
            db.url,
            "SELECT product_id, location_id FROM stock_levels WHERE location_id ="
            f" (SELECT min(location_id) FROM stock_levels) ORDER BY product_id LIMIT {HOT}",
        )
        levels = [(int(p), int(loc)) for p, loc in rows]
        units = (args.count + 10) * args.rounds
        with psycopg.connect(conninfo(db.url), autocommit=True) as conn:
            conn.execute(
                f"UPDATE stock_levels SET on_hand = {units}, reserved = 0, safety_stock = 0,"
                " blocked_quality = 0, blocked_stock = 0, blocked_returns = 0"
            )
        figures = [measure(db.url, levels, args.count, args.sync) for _ in range(args.rounds)]
    log(
        f"lean statement: {statistics.median(figures):.0f} us of PostgreSQL CPU a reservation"
        f" (median of {[round(f) for f in figures]}; synchronous_commit"
        f" {'on' if args.sync else 'off'}; load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
