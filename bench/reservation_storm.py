"""Reservation storm with wrk: ``hot`` SKUs x ``units`` units at one store, sold one unit per
``POST /v1/reservations``, each request with its own ``Idempotency-Key``, until every unit is
held. The load generator is wrk with a Lua script (a C client: it costs far less than the
server it measures, unlike one Python client per buyer).

The Lua script sends one-unit reservations round-robin over the hot SKUs it still believes in
stock; a 409 ``insufficient_stock`` names the SKU, which the thread then stops asking for, and
a thread stops once every hot SKU answered 409. The harness polls the hot levels' ``reserved``
in the database every 50 ms and marks the moment the last unit was held; wrk is then stopped.

Reported: reservations/s (units / time to the last hold), wrk's latency percentiles (every
answer, the few trailing 409s included), the api's CPU microseconds per reservation next to
the same figure for a trivial POST (``POST /health``: 405 through the same middleware stack,
the floor of any POST on this server), wrk's CPU and PostgreSQL's.

Pass: exactly ``hot x units`` holds (every level ends with reserved == units, available == 0,
no 201 beyond the units: counted in Lua), and ``sincro inventory verify`` exits 0.

    python -m bench.reservation_storm --db postgresql [--hot 20 --units 3000 --connections 64]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    ApiServer,
    CpuMeter,
    RowPoller,
    emit,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
    preflight,
    proc_cpu_seconds,
    query_rows,
)

PYSPY = Path(sys.executable).parent / "py-spy"
_LUA = """
local skus = {}
for line in io.lines("%(skus)s") do skus[#skus + 1] = line end
local location = "%(location)s"
local key = "%(key)s"
local variant = "%(variant)s"

local counter = 1
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

n, left, out, created, short, other = 0, 0, {}, 0, 0, 0
function init(args)
  left = #skus
  created, short, other = 0, 0, 0
end

request = function()
  if variant == "floor" then
    return wrk.format("POST", "/health", {["X-API-Key"] = key,
      ["Content-Type"] = "application/json"}, "{}")
  end
  local i
  repeat
    n = n + 1
    i = (n %% #skus) + 1
  until not out[i]
  local body = '{"lines":[{"sku":"' .. skus[i] .. '","qty":1,"location":"' .. location
    .. '"}],"ttl_seconds":3600}'
  return wrk.format("POST", "/v1/reservations", {["X-API-Key"] = key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "storm-" .. tid .. "-" .. n}, body)
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 409 then
    short = short + 1
    local sku = string.match(body, '"sku":"([^"]+)"')
    for i = 1, #skus do
      if skus[i] == sku and not out[i] then
        out[i] = true
        left = left - 1
      end
    end
    if left == 0 then wrk.thread:stop() end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, s, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + (t:get("created") or 0)
    s = s + (t:get("short") or 0)
    o = o + (t:get("other") or 0)
  end
  local f = io.open("%(out)s", "w")
  local e = summary.errors
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "created": %%d, "short": %%d, "other": %%d,'
    .. ' "errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d},'
    .. ' "latency_us": {"mean": %%.1f, "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d,'
    .. ' "max": %%d}}',
    summary.requests, summary.duration, c, s, o, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
  f:close()
end
"""


# PostgreSQL's own processes (not a client's backend): the WAL writer, the checkpointer…
_PG_AUXILIARY = ("checkpointer", "background writer", "walwriter", "autovacuum launcher",
                 "logical replication launcher", "stats collector", "archiver")  # fmt: skip


def _postgres_pids(database: str | None = None) -> list[int]:
    """Every PostgreSQL server process on the machine (shared with other workloads) or, with
    ``database``, the backends serving that database plus the server's own processes (those
    are shared with the server's other databases, but do the WAL writing and flushing that a
    storm's commits ask for)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
                title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if not comm.startswith("postgres"):
                continue
            words = title.replace("\0", " ").split()
            if database is None or database in words or any(a in title for a in _PG_AUXILIARY):
                pids.append(int(entry))
    return pids


def _wrk(
    server: ApiServer,
    key: str,
    skus: list[str],
    location: str,
    variant: str,
    connections: int,
    threads: int,
    seconds: float,
    done: Any = None,
    profile: Path | None = None,
    *,
    lua: str = _LUA,
    values: dict[str, Any] | None = None,
    database: str | None = None,
) -> dict[str, Any]:
    """One wrk run; ``done()`` (polled every 50 ms) ends it early (SIGINT: wrk reports).
    ``lua`` is the script's template (another benchmark's), ``values`` its further fields."""
    workdir = Path(tempfile.mkdtemp(prefix="sincro-storm-"))
    (workdir / "skus.txt").write_text("\n".join(skus) + "\n")
    out = workdir / "out.json"
    script = workdir / "storm.lua"
    script.write_text(
        lua
        % {
            "skus": workdir / "skus.txt",
            "location": location,
            "key": key,
            "variant": variant,
            "out": out,
            **(values or {}),
        }
    )
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
           "--timeout", "10s", "-s", str(script), server.base_url]  # fmt: skip
    pg0 = {pid: proc_cpu_seconds([pid]) for pid in _postgres_pids()}
    ours0 = set(_postgres_pids(database)) if database else set()
    finished_at = None
    spies: list[subprocess.Popen[bytes]] = []
    with CpuMeter(server, "children") as meter:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if done is not None:
            while proc.poll() is None:
                if profile and not spies and time.perf_counter() - t0 > 3:
                    spies = _profile(server, profile)  # past the first requests' warm-up
                if done():
                    finished_at = time.perf_counter() - t0
                    time.sleep(2)  # the last answers arrive, the threads learn SKUs are out
                    proc.send_signal(signal.SIGINT)
                    break
                time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=seconds + 60)
    for spy in spies:
        spy.wait(timeout=60)
    # backends opened during the storm count from zero; ones that exited are lost (few)
    pg_all = {pid: proc_cpu_seconds([pid]) - pg0.get(pid, 0.0) for pid in _postgres_pids()}
    ours = ours0 | set(_postgres_pids(database)) if database else set()
    if not out.exists():
        raise RuntimeError(f"wrk wrote no result: {stdout}\n{stderr}")
    raw = json.loads(out.read_text())
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()
    cpu = meter.result()
    cpu["postgres_cpus_used"] = round(sum(pg_all.values()) / cpu["wall_seconds"], 2)
    if database:  # this database's backends and the server's own processes only
        ours_cpu = sum(pg_all.get(pid, 0.0) for pid in ours)
        cpu["postgres_db_cpus_used"] = round(ours_cpu / cpu["wall_seconds"], 2)
        cpu["postgres_db_cpu_seconds"] = round(ours_cpu, 2)
    raw["finished_at_s"] = round(finished_at, 3) if finished_at is not None else None
    raw["cpu"] = cpu
    raw["command"] = " ".join(cmd[:-3]) + f" -s <{variant} script> {server.base_url}"
    return raw


def _profile(server: ApiServer, where: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on every api process but the supervisor for the first 8 s of the storm,
    collapsed stacks (one line per stack with its sample count) in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(PYSPY),
                "record",
                "--pid",
                str(pid),
                "--duration",
                "8",
                "--rate",
                "200",
                "--format",
                "raw",
                "--gil",
                "--output",
                str(where / f"worker-{pid}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in server.pids()[1:]
    ]


def _levels(
    url: str, skus: list[str], location: str, poller: RowPoller | None = None
) -> list[tuple[Any, ...]]:
    quoted = ", ".join(f"'{s}'" for s in skus)
    return (poller.rows if poller else partial(query_rows, url))(
        "SELECT p.sku, s.on_hand, s.reserved, s.on_hand - s.reserved - s.blocked_quality"
        " - s.blocked_stock - s.blocked_returns - s.safety_stock FROM stock_levels s"
        " JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id"
        f" WHERE l.code = '{location}' AND p.sku IN ({quoted}) ORDER BY p.sku",
    )


def _reserved_total(poller: RowPoller, skus: list[str], location: str) -> int:
    return sum(int(r[2]) for r in _levels("", skus, location, poller))


def run(
    server: ApiServer,
    database_url: str,
    key: str,
    skus: list[str],
    location: str,
    *,
    hot: int = 20,
    units: int = 3000,
    connections: int = 64,
    threads: int = 2,
    floor_seconds: int = 10,
    profile: Path | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    rng = rng or random.Random(2)
    hot_skus = sorted(rng.sample(skus, hot))
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}, timeout=60) as c:
        for sku in hot_skus:
            r = c.put(
                f"/v1/stock/{location}/{sku}",
                json={"on_hand": units, "safety_stock": 0},
                headers={"If-Match": "*"},
            )
            r.raise_for_status()
    before = _levels(database_url, hot_skus, location)
    if [r[3] for r in before] != [units] * hot or any(r[2] for r in before):
        raise RuntimeError(f"hot levels not ready: {before}")
    expected = hot * units
    note = preflight("reservation storm (wrk)", set(server.pids()), 10)
    log(f"storm: {hot} SKUs x {units} units at {location}, wrk -c{connections}")
    commits0 = _commits(database_url)
    poller = RowPoller(database_url)  # one connection for the progress polls
    database = database_url.rsplit("/", 1)[1] if database_url.startswith("postgres") else None
    storm = _wrk(
        server,
        key,
        hot_skus,
        location,
        "storm",
        connections,
        threads,
        600,
        done=lambda: _reserved_total(poller, hot_skus, location) >= expected,
        profile=profile,
        database=database,
    )
    poller.close()
    after = _levels(database_url, hot_skus, location)
    held = int(query_rows(database_url, "SELECT count(*) FROM reservations")[0][0])
    started = time.perf_counter()
    verify = server.cli("inventory", "verify", timeout=1800)
    verify_seconds = time.perf_counter() - started
    floor_note = preflight("POST floor", set(server.pids()), 10)
    floor = _wrk(server, key, hot_skus, location, "floor", connections, threads, floor_seconds)
    commits = _commits(database_url)  # after the floor: backends idle 10 s report theirs
    bare = _bare_floor(server, key, hot_skus, location, connections, threads, floor_seconds)
    seconds = storm["finished_at_s"] or storm["duration_us"] / 1e6
    api_cpu = storm["cpu"]["server_cpu_seconds"]
    floor_rate = floor["requests"] / (floor["duration_us"] / 1e6)
    result = {
        "date": machine_info()["date"],
        "commit": machine_info()["git_commit"],
        "hot_skus": hot_skus,
        "location": location,
        "units_per_sku": units,
        "expected": expected,
        "created_201": storm["created"],
        "short_409": storm["short"],
        "other_status": storm["other"],
        "wrk_errors": storm["errors"],
        "levels_after": after,
        "levels_ok": all(r[2] == units and r[3] == 0 for r in after),
        "reservations_in_database": held,
        # every unit held once: levels, reservation rows and the 201s wrk read all agree
        "sold_exactly_once": sum(r[2] for r in after) == expected
        and held == expected
        and storm["created"] <= expected,
        "seconds_to_last_hold": seconds,
        "reservations_per_second": round(expected / seconds, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in storm["latency_us"].items()},
        "api_cpu_us_per_reservation": round(api_cpu / max(1, storm["created"]) * 1e6),
        # this database's backends and the server's own processes (PostgreSQL only)
        "postgres_db_cpu_us_per_reservation": round(
            storm["cpu"].get("postgres_db_cpu_seconds", 0.0) / max(1, storm["created"]) * 1e6
        ),
        # PostgreSQL: this database's commits during the storm (with the progress polls and
        # verify's few) per reservation; group commit puts many reservations in one
        "commits_per_reservation": None
        if commits is None or commits0 is None
        else round((commits - commits0) / max(1, storm["created"]), 3),
        "cpu": storm["cpu"],
        "floor_post": {
            "requests_per_second": round(floor_rate),
            "api_cpu_us_per_request": round(
                floor["cpu"]["server_cpu_seconds"] / max(1, floor["requests"]) * 1e6
            ),
            "latency_ms": {k: round(v / 1000, 2) for k, v in floor["latency_us"].items()},
            "cpu": floor["cpu"],
            "command": floor["command"],
        },
        # the same POSTs on a bare ASGI endpoint with the api's server and workers: what
        # this host allows at that moment with no application (its speed varies between
        # runs); the storm's share of it is comparable across runs as the rate is not
        "bare_post": bare,
        "share_of_bare_post": round(expected / seconds / max(1, bare["requests_per_second"]), 4),
        "verify_exit_code": verify.returncode,
        "verify_output": (verify.stdout + verify.stderr)[-400:],
        "verify_seconds": round(verify_seconds, 1),
        "preflight": note,
        "floor_preflight": floor_note,
        "command": storm["command"],
    }
    log(
        f"  {storm['created']}/{expected} in {seconds:.2f} s"
        f" ({result['reservations_per_second']}/s), p50 {result['latency_ms']['p50']} ms"
        f" p99 {result['latency_ms']['p99']} ms; api {result['api_cpu_us_per_reservation']}"
        f" us/reservation vs floor {result['floor_post']['api_cpu_us_per_request']} us;"
        f" commits/reservation {result['commits_per_reservation']};"
        f" {result['share_of_bare_post']:.1%} of the bare ASGI POST floor"
        f" ({bare['requests_per_second']}/s);"
        f" levels ok {result['levels_ok']}, verify exit {verify.returncode}"
    )
    return result


def _bare_floor(
    server: ApiServer,
    key: str,
    skus: list[str],
    location: str,
    connections: int,
    threads: int,
    seconds: int,
) -> dict[str, Any]:
    """The floor's wrk run against :class:`bench.baselines.BareServer` (same workers, loop and
    parser as the api), started for it and stopped after."""
    from bench.baselines import BareServer

    with BareServer(server.database_url, server.workers) as bare:
        note = preflight("bare ASGI POST floor", set(bare.pids()), 10)
        run = _wrk(bare, key, skus, location, "floor", connections, threads, seconds)
    return {
        "requests_per_second": round(run["requests"] / (run["duration_us"] / 1e6)),
        "latency_ms": {k: round(v / 1000, 2) for k, v in run["latency_us"].items()},
        "cpu": run["cpu"],
        "server_command": bare.command,
        "preflight": note,
    }


def _commits(database_url: str) -> int | None:
    """PostgreSQL: the database's committed transactions so far (None on SQLite)."""
    if not database_url.startswith("postgres"):
        return None
    sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    return int(query_rows(database_url, sql)[0][0])


def _server(url: str, workers: int) -> ApiServer:
    """The api for the storm, without the availability cache's start-up warm-up (1,000 SKUs
    loaded per worker: tens of CPU-seconds that would land in the storm's figures)."""
    server = ApiServer(url, workers=workers)
    server.env["SINCRO_AVAILABILITY_WARM_SKUS"] = "0"
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Reservation storm with wrk")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="write the JSON result here too")
    parser.add_argument("--profile", type=Path, help="py-spy the api workers into this folder")
    args = parser.parse_args()
    with (
        fresh_database(args.db, stores=args.stores, products=args.products) as db,
        _server(db.url, args.workers) as server,
    ):
        key = server.create_key()
        out = run(
            server,
            db.url,
            key,
            list_skus(db.url),
            list_stores(db.url)[0],
            hot=args.hot,
            units=args.units,
            connections=args.connections,
            profile=args.profile,
        )
        out["database"] = args.db
        out["workers"] = args.workers
        emit(out, args.out)


if __name__ == "__main__":
    main()
