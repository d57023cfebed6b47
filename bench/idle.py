"""Idle cost of an api: CPU used by ``sincro api`` (supervisor + workers) while nobody calls it.

On PostgreSQL the event hub is woken by LISTEN/NOTIFY and polls once a second; on SQLite it
polls every 20 ms. ``--poll`` sets ``SINCRO_FEED_IDLE_POLL_SECONDS`` on PostgreSQL (e.g. 0.02
to see the old 50 Hz polling again).

    python -m bench.idle --db postgresql [--seconds 30 --workers 2]
    python -m bench.idle --db postgresql --workers 1 --with-worker   # production shape

``--with-worker`` also starts ``sincro worker`` (every queue, RabbitMQ in a virtual host of its
own, Redis) and ``sincro beat`` against the same database, and reports api, worker (its pool
processes included: the measurement waits until they are forked) and beat each and together,
with the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import (
    SINCRO,
    ApiServer,
    fresh_database,
    log,
    proc_cpu_seconds,
    process_tree,
)
from bench.messaging_common import REDIS_URL, _vhost


@contextlib.contextmanager
def background(server: ApiServer) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """``sincro worker`` and ``sincro beat`` in production mode beside ``server``."""
    vhosts = _vhost(shutil.which("rabbitmqctl"))
    env = server.env | {
        "SINCRO_BROKER_URL": next(vhosts),
        "SINCRO_REDIS_URL": REDIS_URL,
        "SINCRO_REDIS_PREFIX": f"sincro-idle-{secrets.token_hex(4)}:",
    }
    server.env.update(env)
    procs = {
        name: subprocess.Popen(
            [str(SINCRO), name],
            env=env,
            cwd=server.var_dir,
            stdout=subprocess.DEVNULL,
            stderr=(Path(server.var_dir) / f"{name}.log").open("wb"),
            start_new_session=True,
        )
        for name in ("worker", "beat")
    }
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(StopIteration):
            next(vhosts)


def wait_for_pool(pid: int, processes: int = 3, timeout: float = 120.0) -> None:
    """Until ``sincro worker`` (``pid``) has forked its pool (2 processes by default), so the
    measurement counts them."""
    deadline = time.monotonic() + timeout
    while len(process_tree(pid)) < processes and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(5)  # the pool processes' own start (heartbeat, imports) is not idle either


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU of an idle api")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--poll", type=float, help="SINCRO_FEED_IDLE_POLL_SECONDS")
    parser.add_argument("--with-worker", action="store_true")
    args = parser.parse_args()
    others: dict[str, float] = {}
    with fresh_database(args.db, stores=20, products=20) as db:
        server = ApiServer(db.url, workers=args.workers)
        if args.poll:
            server.env["SINCRO_FEED_IDLE_POLL_SECONDS"] = str(args.poll)
        with contextlib.ExitStack() as stack:
            procs = stack.enter_context(background(server)) if args.with_worker else {}
            stack.enter_context(server)
            time.sleep(20 if procs else 10)  # start-up work (first beats, jobs) is not idle
            if "worker" in procs:  # on a loaded machine the pool may fork later than that
                wait_for_pool(procs["worker"].pid)
            trees = {name: process_tree(p.pid) for name, p in procs.items()}
            load_before = os.getloadavg()
            pids = server.pids()
            cpu0, t0 = proc_cpu_seconds(pids), time.perf_counter()
            before = {name: proc_cpu_seconds(tree) for name, tree in trees.items()}
            time.sleep(args.seconds)
            used = proc_cpu_seconds(pids) - cpu0
            wall = time.perf_counter() - t0
            others = {n: proc_cpu_seconds(t) - before[n] for n, t in trees.items()}
            load_after = os.getloadavg()
            changed = [
                n for n, p in procs.items() if sorted(process_tree(p.pid)) != sorted(trees[n])
            ]
    together = used + sum(others.values())
    out = {
        "database": args.db,
        "workers": args.workers,
        "idle_poll_seconds": args.poll,
        "seconds": round(wall, 1),
        "api_cpu_seconds": round(used, 2),
        "share_of_one_core": round(used / wall, 4),
        "per_worker_share_of_one_core": round(used / wall / args.workers, 4),
        **{f"{name}_share_of_one_core": round(cpu / wall, 4) for name, cpu in others.items()},
        "together_share_of_one_core": round(together / wall, 4),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "processes_changed_during_the_run": changed,
    }
    log(f"idle api ({args.db}): {100 * out['share_of_one_core']:.2f} % of one core")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
