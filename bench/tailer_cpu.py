"""CPU per outbox event on its way from the database to an api process's subscribers.

In a reservation storm every api process reads every stock event (its own and the other
processes'): the feed hub polls the outbox with the gap-aware tailer, shapes each row as the
feed publishes it and hands the batch to the process's event bus (the availability cache
patches its snapshots) and to its SSE subscribers. This harness measures what that costs
the api process per event, without the storm's noise.

A fresh database with a small demo operator; the app built by :func:`sincro.app.create_app`
as ``sincro api`` builds it (settings from the environment, the availability warm-up off),
the ``--hot`` SKUs' snapshots loaded (so each event patches one, as in a storm). Events are
written by raw psycopg inserts of stock events of the hot SKUs at one store (each with a
newer version than the last), then read back in two ways:

* ``direct``: ``--events`` events inserted first, then read by the app's own hub objects on
  this thread, ``--per-poll`` events a poll (a storm of ~3,000 events a second polled at most
  every 10 ms gives ~30): ``tailer.poll()`` then ``hub.publish()``, timed apart (thread CPU).
  The per-event cost of the read and of the shaping and delivery, without hand-offs.
* ``hub``: the app's lifespan started (the hub follows the outbox, woken by LISTEN/NOTIFY on
  PostgreSQL); a writer process inserts ``--events`` events at ``--rate`` a second,
  ``--per-commit`` a transaction, with a NOTIFY at most every 10 ms, as another process's
  notifier sends them (its commits coalesced). Timed: this process's CPU (every thread) from
  the first insert until the hub has delivered the last event (the writer is a process of
  its own): what the whole path costs, wake-ups and hand-offs included. An idle window of the same
  length, measured just before, is reported too (the app's own background work).

``--sse N`` adds N SSE subscribers of every stock event (their queues drained on the loop).

    python -m bench.tailer_cpu --db postgresql [--events 30000 --per-poll 30]

Run it against another checkout's code with ``PYTHONPATH=<that checkout>/src:<this one>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import emit, fresh_database, list_skus, list_stores, log, machine_info

INSERT = (
    "INSERT INTO events (sku, location, available, on_hand, reserved, version, cause,"
    " reference, created_at) SELECT %(sku)s, %(loc)s, 1000 - v %% 1000, 1000, v %% 1000, v,"
    " 'reservation', 'bench', now() AT TIME ZONE 'UTC' FROM generate_series(%(v0)s, %(v1)s) v"
)

NOTIFY_GAP = 0.01  # outbox_notify.MIN_GAP_SECONDS: one NOTIFY per 10 ms at most


class Writer:
    """Stock events of the hot SKUs at one store, ``per_commit`` a transaction."""

    def __init__(self, url: str, skus: list[str], store: str) -> None:
        from sincro.outbox_notify import connect

        self.conn = connect(url)
        self.url, self.skus, self.store = url, skus, store
        self.version = 10_000_000  # newer than any level's own version

    def write(self, n: int, per_commit: int, rate: float | None = None) -> None:
        started, done, notified = time.monotonic(), 0, 0.0
        while done < n:
            k = min(per_commit, n - done)
            sku = self.skus[(done // per_commit) % len(self.skus)]
            v0 = self.version + 1
            self.version += k
            params = {"sku": sku, "loc": self.store, "v0": v0, "v1": self.version}
            self.conn.execute(INSERT, params)
            if rate is not None and time.monotonic() - notified >= NOTIFY_GAP:
                self.conn.execute("NOTIFY sincro_events")  # coalesced, as Notifier sends
                notified = time.monotonic()
            done += k
            if rate is not None:
                ahead = started + done / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def spawn(self, n: int, per_commit: int, rate: float) -> subprocess.Popen[bytes]:
        """The same writes at ``rate`` from another process (its CPU is not this one's)."""
        spec = {"url": self.url, "skus": self.skus, "store": self.store, "version": self.version,
                "n": n, "per_commit": per_commit, "rate": rate}  # fmt: skip
        self.version += n
        return subprocess.Popen(
            [sys.executable, "-m", "bench.tailer_cpu", "--write", json.dumps(spec)]
        )


def _write_alone(spec: dict[str, Any]) -> None:
    writer = Writer(spec["url"], spec["skus"], spec["store"])
    writer.version = spec["version"]
    writer.write(spec["n"], spec["per_commit"], spec["rate"])
    writer.conn.close()


def _last_seq(url: str) -> int:
    from bench.harness import query_rows

    return int(query_rows(url, "SELECT coalesce(max(seq), 0) FROM events")[0][0])


def _subscribers(hub: Any, n: int) -> list[Any]:
    return [hub.subscribe(None, None) for _ in range(n)]


def _drain(subs: list[Any]) -> int:
    got = 0
    for sub in subs:
        while not sub.queue.empty():
            sub.queue.get_nowait()
            got += 1
    return got


def direct(app: Any, writer: Writer, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sincro.feed.runtime import event_hub

    hub = event_hub(app.state.sincro)
    subs = _subscribers(hub, args.sse)
    start = _last_seq(url)
    writer.write(args.events, 500)
    end = _last_seq(url)
    size, hub.tailer.batch = hub.tailer.batch, args.per_poll
    out: dict[str, Any] = {}
    for run in range(args.repeat):
        hub.tailer.start_at(start)
        poll_cpu = publish_cpu = 0.0
        polls = events = 0
        while hub.tailer.position < end:
            t0 = time.thread_time()
            batch = hub.tailer.poll()
            t1 = time.thread_time()
            hub.publish(batch)
            _drain(subs)
            publish_cpu += time.thread_time() - t1
            poll_cpu += t1 - t0
            polls += 1
            events += len(batch)
        out[f"run{run + 1}"] = {
            "events": events,
            "polls": polls,
            "poll_us_per_event": round(poll_cpu / events * 1e6, 2),
            "publish_us_per_event": round(publish_cpu / events * 1e6, 2),
            "total_us_per_event": round((poll_cpu + publish_cpu) / events * 1e6, 2),
            "poll_us_per_poll": round(poll_cpu / polls * 1e6, 1),
        }
        log(f"  direct run {run + 1}: {out[f'run{run + 1}']}")
    hub.tailer.batch = size
    for sub in subs:
        hub.unsubscribe(sub)
    return out


async def hub_mode(app: Any, writer: Writer, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sincro.feed.runtime import event_hub

    hub = event_hub(app.state.sincro)
    subs = _subscribers(hub, args.sse)
    seconds = args.events / args.rate
    out: dict[str, Any] = {}
    stop = False

    async def drain() -> None:
        while not stop:
            _drain(subs)
            await asyncio.sleep(0.01)

    drainer = asyncio.create_task(drain())
    polls = [0, 0]  # polls, polls that found events
    poll = hub.tailer.poll

    def counted() -> list[dict[str, Any]]:
        events = poll()
        polls[0] += 1
        polls[1] += bool(events)
        return events

    hub.tailer.poll = counted  # the hub's thread (or pool) calls it through the instance
    await asyncio.sleep(1.0)
    for run in range(args.repeat):
        before, t0 = os.times(), time.perf_counter()
        await asyncio.sleep(seconds)
        after = os.times()
        idle = (after.user + after.system - before.user - before.system) / seconds
        start = _last_seq(url)
        end = start + args.events
        before, t0, polls[:] = os.times(), time.perf_counter(), [0, 0]
        child = writer.spawn(args.events, args.per_commit, args.rate)
        while hub.position < end:
            await asyncio.sleep(0.005)
        after, wall = os.times(), time.perf_counter() - t0
        if await asyncio.to_thread(child.wait) != 0:
            raise RuntimeError("the writer failed")
        cpu = after.user + after.system - before.user - before.system
        out[f"run{run + 1}"] = {
            "events": args.events,
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 3),
            "us_per_event": round(cpu / args.events * 1e6, 2),
            "idle_cpu_seconds_same_length": round(idle * wall, 3),
            "net_us_per_event": round((cpu - idle * wall) / args.events * 1e6, 2),
            "delivered_events_per_second": round(args.events / wall, 1),
            "user_seconds": round(after.user - before.user, 3),
            "system_seconds": round(after.system - before.system, 3),
            "polls": polls[0],
            "events_per_poll_with_events": round(args.events / max(1, polls[1]), 1),
        }
        log(f"  hub run {run + 1}: {out[f'run{run + 1}']}")
    stop = True
    await drainer
    return out


async def _hub(app: Any, writer: Writer, url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with app.router.lifespan_context(app):
        for thread in threading.enumerate():  # the assistant's classifier trains at start
            if thread.name == "sincro-assistant-train":
                await asyncio.to_thread(thread.join)
        return await hub_mode(app, writer, url, args)


def main() -> None:
    parser = argparse.ArgumentParser(description="api CPU per outbox event delivered")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--mode", choices=["direct", "hub", "both"], default="both")
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--per-poll", type=int, default=30)
    parser.add_argument("--per-commit", type=int, default=3)
    parser.add_argument("--rate", type=float, default=3000.0, help="hub mode: events a second")
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--sse", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", help=argparse.SUPPRESS)  # the hub mode's writer process
    args = parser.parse_args()
    if args.write:
        _write_alone(json.loads(args.write))
        return
    if args.db != "postgresql":
        parser.error("the writer is PostgreSQL's (raw psycopg inserts)")
    var = Path(tempfile.mkdtemp(prefix="sincro-tailer-"))
    (var / "prometheus").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var / "prometheus")  # as with 2 workers
    with fresh_database(args.db, stores=args.stores, products=args.products) as db:
        os.environ.update(
            SINCRO_DATABASE_URL=db.url,
            SINCRO_VAR_DIR=str(var),
            SINCRO_AVAILABILITY_WARM_SKUS="0",
        )
        import uvloop

        import sincro
        from sincro.app import create_app
        from sincro.db import reset_databases
        from sincro.inventory.runtime import availability_cache

        app = create_app()
        skus = list_skus(db.url)[: args.hot]
        store = list_stores(db.url)[0]
        cache = availability_cache(app.state.sincro)
        for sku in skus:  # each event patches a loaded snapshot, as in a storm
            cache.get(sku)
        writer = Writer(db.url, skus, store)
        result: dict[str, Any] = {"code": str(Path(sincro.__file__).parent)}
        try:
            if args.mode in ("direct", "both"):
                log(f"direct: {args.events} events, {args.per_poll} a poll")
                result["direct"] = direct(app, writer, db.url, args)
            if args.mode in ("hub", "both"):
                log(f"hub: {args.events} events at {args.rate}/s, {args.per_commit} a commit")
                result["hub"] = uvloop.run(_hub(app, writer, db.url, args))
        finally:
            writer.conn.close()
            reset_databases()
        result.update(
            database=args.db,
            commit=machine_info()["git_commit"],
            loadavg_after=os.getloadavg(),
            command=" ".join(["python -m bench.tailer_cpu", *sys.argv[1:]]),
        )
        emit(result, args.out)


if __name__ == "__main__":
    main()
