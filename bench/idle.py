"""Idle cost of an api: CPU used by ``sincro api`` (supervisor + workers) while nobody calls it.

On PostgreSQL the event hub is woken by LISTEN/NOTIFY and polls once a second; on SQLite it
polls every 20 ms. ``--poll`` sets ``SINCRO_FEED_IDLE_POLL_SECONDS`` on PostgreSQL (e.g. 0.02
to see the old 50 Hz polling again).

    python -m bench.idle --db postgresql [--seconds 30 --workers 2]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.harness import ApiServer, fresh_database, log, proc_cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU of an idle api")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--poll", type=float, help="SINCRO_FEED_IDLE_POLL_SECONDS")
    args = parser.parse_args()
    with fresh_database(args.db, stores=20, products=20) as db:
        server = ApiServer(db.url, workers=args.workers)
        if args.poll:
            server.env["SINCRO_FEED_IDLE_POLL_SECONDS"] = str(args.poll)
        with server:
            time.sleep(10)  # start-up work (warm-up, first beats) is not idle cost
            pids = server.pids()
            cpu0, t0 = proc_cpu_seconds(pids), time.perf_counter()
            time.sleep(args.seconds)
            used = proc_cpu_seconds(pids) - cpu0
            wall = time.perf_counter() - t0
    out = {
        "database": args.db,
        "workers": args.workers,
        "idle_poll_seconds": args.poll,
        "seconds": round(wall, 1),
        "api_cpu_seconds": round(used, 2),
        "share_of_one_core": round(used / wall, 4),
        "per_worker_share_of_one_core": round(used / wall / args.workers, 4),
    }
    log(f"idle api ({args.db}): {100 * out['share_of_one_core']:.2f} % of one core")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
