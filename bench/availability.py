"""Availability under load: the reference scenario (hey) and saturation (wrk), each next to
the floor, ``GET /health``, measured the same way in the same run.

Reference scenario: 3,000 connections each sending about one request per second. ``hey``
takes one URL, so ``procs`` hey processes run in parallel (300 connections each by default),
each on its own random SKU, started 1/procs s apart so that their once-a-second ticks spread
over the second instead of all 3,000 requests landing together. ``hey -n`` fixes the number of
requests (connections x seconds), so the requests missing from hey's CSV (which lists only
requests that got an HTTP answer) are the transport errors.

Saturation: ``wrk -t2 -c256`` with a Lua script that picks a random SKU of the real catalogue
for every request and counts the answers by HTTP status (``status_counts``, ``non_2xx``: wrk
alone reports only how many were not 2xx/3xx).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    ApiServer,
    CpuMeter,
    add_redis_argument,
    counter_total,
    emit,
    latency_summary_ms,
    log,
    preflight,
    redis_settings,
)

REFERENCE_RESULT = {
    "virtual_users": 3000,
    "requests": 37_444,
    "status_200": "100%",
    "mean_ms": 10.96,
    "percentiles": None,
    "saturation_rps": 1000,
}


def _paths(
    base: str, variant: str, skus: list[str], stores: list[str], n: int, rng: random.Random
) -> list[str]:
    if variant == "floor":
        return [f"{base}/health"] * n
    chosen = rng.sample(skus, n) if n <= len(skus) else [rng.choice(skus) for _ in range(n)]
    if variant == "summary":
        return [f"{base}/v1/availability/{sku}" for sku in chosen]
    if variant == "store":
        return [f"{base}/v1/availability/{sku}?location={rng.choice(stores)}" for sku in chosen]
    raise ValueError(variant)


def reference_scenario(
    server: ApiServer,
    key: str,
    variant: str,
    skus: list[str],
    stores: list[str],
    duration: int = 60,
    connections: int = 3000,
    procs: int = 10,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """``procs`` x ``hey -n (c*duration) -c c -q 1 -o csv`` in parallel; aggregated."""
    rng = rng or random.Random()
    per_proc = connections // procs
    requests_each = per_proc * duration
    urls = _paths(server.base_url, variant, skus, stores, procs, rng)
    workdir = Path(tempfile.mkdtemp(prefix="sincro-bench-hey-"))
    commands, running = [], []
    with CpuMeter(server, "children") as meter:
        for i, url in enumerate(urls):
            cmd = [
                "hey",
                "-n",
                str(requests_each),
                "-c",
                str(per_proc),
                "-q",
                "1",
                "-t",
                "20",
                "-o",
                "csv",
                "-H",
                f"X-API-Key: {key}",
                url,
            ]
            commands.append(cmd)
            out = open(workdir / f"hey-{i}.csv", "wb")  # noqa: SIM115
            err = open(workdir / f"hey-{i}.err", "wb")  # noqa: SIM115
            running.append((subprocess.Popen(cmd, stdout=out, stderr=err), out, err))
            time.sleep(1.0 / procs)
        deadline = time.monotonic() + duration * 3 + 60
        for proc, out, err in running:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
            err.close()
    latencies: list[float] = []
    after_ramp: list[float] = []  # requests started once every connection was open
    ramp = 5.0 if duration >= 30 else 1.0
    statuses: dict[str, int] = {}
    dials: list[float] = []  # time to open the connection, for requests that opened one
    slow_by_second: dict[int, int] = {}  # requests over 1 s, by the second they started in
    for i in range(procs):
        with open(workdir / f"hey-{i}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                latency = float(row["response-time"])
                latencies.append(latency)
                if float(row["offset"]) >= ramp:
                    after_ramp.append(latency)
                statuses[row["status-code"]] = statuses.get(row["status-code"], 0) + 1
                dial = float(row["DNS+dialup"])
                if dial > 0:
                    dials.append(dial)
                if latency > 1.0:
                    second = int(float(row["offset"]))
                    slow_by_second[second] = slow_by_second.get(second, 0) + 1
    stderr = "".join((workdir / f"hey-{i}.err").read_text(errors="replace") for i in range(procs))
    expected = requests_each * procs
    answered = len(latencies)
    ok = statuses.get("200", 0)
    cpu = meter.result()
    result = {
        "variant": variant,
        "tool": "hey",
        "connections": per_proc * procs,
        "processes": procs,
        "qps_per_connection": 1,
        "duration_s": duration,
        "command": (
            f"{procs} x hey -n {requests_each} -c {per_proc} -q 1 -t 20 -o csv"
            f" -H 'X-API-Key: …' {_display(urls[0], server.base_url)}"
            f" (one SKU per process, started {1000 // procs} ms apart)"
        ),
        "urls": [_display(u, server.base_url) for u in urls],
        "requests_expected": expected,
        "requests_answered": answered,
        "status_200": ok,
        "status_counts": statuses,
        "transport_errors": expected - answered,
        "errors": expected - ok,
        "throughput_rps": round(answered / cpu["wall_seconds"], 1),
        **latency_summary_ms(latencies),
        "after_ramp": {"skip_first_s": ramp, **latency_summary_ms(after_ramp)},
        "connect": {
            **latency_summary_ms(dials),
            "over_1s": sum(1 for d in dials if d > 1.0),  # a SYN was dropped and resent
        },
        "requests_over_1s_by_start_second": dict(sorted(slow_by_second.items())),
        "cpu": cpu,
        "hey_stderr": stderr[-500:],
    }
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()
    return result


def _display(url: str, base: str) -> str:
    return url.replace(base, "http://127.0.0.1:<port>")


_WRK_SCRIPT = """
local skus = {}
for line in io.lines("%(skus)s") do skus[#skus + 1] = line end
local stores = {}
for line in io.lines("%(stores)s") do stores[#stores + 1] = line end
local variant = "%(variant)s"
wrk.headers["X-API-Key"] = "%(key)s"

local counter = 1
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  threads[#threads + 1] = thread
  counter = counter + 1
end

-- per thread: answers by HTTP status (wrk itself only counts non-2xx/3xx as "status" errors)
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end

request = function()
  if variant == "floor" or variant == "bare" then
    return wrk.format("GET", "/health")
  end
  local path = "/v1/availability/" .. skus[math.random(#skus)]
  if variant == "store" then
    path = path .. "?location=" .. stores[math.random(#stores)]
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    parts[#parts + 1] = string.format('"%%d": %%d', status, n)
  end
  local f = io.open("%(out)s", "w")
  local e = summary.errors
  f:write('{"statuses": {' .. table.concat(parts, ", ") .. '}, "wrk": ')
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "bytes": %%d, "errors": {"connect": %%d,'
    .. ' "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}, "latency_us": {'
    .. '"mean": %%.1f, "stdev": %%.1f, "min": %%d, "max": %%d, "p50": %%d, "p90": %%d,'
    .. ' "p95": %%d, "p99": %%d, "p999": %%d}}',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
  f:write("}")
  f:close()
end
"""


def saturation(
    server: ApiServer,
    key: str,
    variant: str,
    skus: list[str],
    stores: list[str],
    duration: int = 30,
    connections: int = 256,
    threads: int = 2,
) -> dict[str, Any]:
    """``wrk -t{threads} -c{connections} -d{duration}s`` with a random SKU per request."""
    workdir = Path(tempfile.mkdtemp(prefix="sincro-bench-wrk-"))
    (workdir / "skus.txt").write_text("\n".join(skus) + "\n")
    (workdir / "stores.txt").write_text("\n".join(stores) + "\n")
    out = workdir / "result.json"
    script = workdir / f"{variant}.lua"
    script.write_text(
        _WRK_SCRIPT
        % {
            "skus": workdir / "skus.txt",
            "stores": workdir / "stores.txt",
            "variant": variant,
            "key": key,
            "out": out,
        }
    )
    url = server.base_url + ("/health" if variant in ("floor", "bare") else "/v1/availability/")
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    with CpuMeter(server, "children") as meter:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    if not out.exists():
        raise RuntimeError(f"wrk wrote no result: {proc.stdout}\n{proc.stderr}")
    written = json.loads(out.read_text())
    raw, statuses = written["wrk"], dict(sorted(written["statuses"].items()))
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    lat = raw["latency_us"]
    return {
        "variant": variant,
        "tool": "wrk",
        "connections": connections,
        "threads": threads,
        "duration_s": duration,
        "command": (
            f"wrk -t{threads} -c{connections} -d{duration}s --timeout 10s"
            f" -s <{variant}.lua from _WRK_SCRIPT in bench/availability.py>"
            f" {_display(url, server.base_url)}"
            + (
                ""
                if variant in ("floor", "bare")
                else "  (random SKU of the catalogue per request"
                + (", random store" if variant == "store" else "")
                + ")"
            )
        ),
        "requests": raw["requests"],
        "throughput_rps": round(raw["requests"] / seconds, 1),
        "errors": sum(errors.values()),
        "error_counts": errors,
        "status_counts": statuses,
        "non_2xx": sum(n for status, n in statuses.items() if not status.startswith("2")),
        "mean_ms": round(lat["mean"] / 1000, 3),
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "cpu": meter.result(),
        "wrk_stdout": proc.stdout[-800:],
    }


def warm_up(
    server: ApiServer,
    key: str,
    skus: list[str],
    stores: list[str],
    max_seconds: float,
    round_seconds: int = 5,
    warm_rps: float = 1000.0,
) -> dict[str, Any]:
    """Load every SKU's snapshot in every worker: rounds of wrk -c64 over random SKUs until
    one round above ``warm_rps`` without errors made the api load no snapshot at all (its
    ``sincro_availability_cache_misses_total`` did not move: every SKU asked for was cached
    in whichever worker answered), at most ``max_seconds``. Throughput alone is not the rule:
    a half-warm cache already serves thousands of requests a second. An api without the
    counter falls back to two rounds above ``warm_rps``, the second within 15 % of the first."""
    started = time.perf_counter()
    rounds: list[float] = []
    misses: list[float] = []
    before = counter_total(server.base_url, MISSES)
    while True:
        res = saturation(
            server, key, "summary", skus, stores, duration=round_seconds, connections=64
        )
        rounds.append(res["throughput_rps"])
        after = counter_total(server.base_url, MISSES)
        clean = res["errors"] == 0 and rounds[-1] >= warm_rps
        if before is not None and after is not None:
            misses.append(after - before)
            settled = clean and after == before
        else:
            settled = clean and len(rounds) >= 2 and rounds[-1] >= 0.85 * rounds[-2]
            settled = settled and rounds[-2] >= warm_rps
        before = after
        if settled or time.perf_counter() - started >= max_seconds:
            break
    out = {
        "seconds": round(time.perf_counter() - started, 1),
        "rounds_rps": rounds,
        "rounds_cache_misses": misses,
        "settled": settled,
    }
    log(f"warm-up: {out['seconds']} s, rounds {rounds} req/s, cache misses {misses}")
    return out


MISSES = "sincro_availability_cache_misses_total"
VARIANTS = ("floor", "summary", "store")
# saturation's yardsticks on servers of their own (bench.baselines): the bare ASGI floor and
# the reference design rebuilt small
BASELINES = ("bare", "reference")


def run_reference(
    server: ApiServer,
    key: str,
    skus: list[str],
    stores: list[str],
    *,
    duration: int,
    settle: float,
    rng: random.Random,
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    """The reference scenario on the floor, the online summary and one store's row."""
    ours = set(server.pids())
    out: dict[str, Any] = {}
    for variant in variants:
        note = preflight(f"reference/{variant}", ours, settle)
        log(f"reference scenario ({variant}): 3,000 connections x 1 req/s, {duration} s")
        res = reference_scenario(server, key, variant, skus, stores, duration=duration, rng=rng)
        res["preflight"] = note
        out[variant] = res
        log(
            f"  {res['throughput_rps']} req/s, p50 {res.get('p50_ms')} ms, p99"
            f" {res.get('p99_ms')} ms, max {res.get('max_ms')} ms, errors {res['errors']},"
            f" server {res['cpu']['server_cpus_used']} CPUs,"
            f" hey {res['cpu']['generator_cpus_used']} CPUs,"
            f" others {res['cpu']['other_cpus_used']} CPUs"
        )
    return out


def run_saturation(
    server: ApiServer,
    key: str,
    skus: list[str],
    stores: list[str],
    *,
    duration: int,
    settle: float,
    repeats: int = 1,
) -> dict[str, Any]:
    """wrk -c256 on the floor, the online summary and one store's row, ``repeats`` rounds
    interleaved; the best round of each is kept (the machine is shared), all are recorded."""
    ours = set(server.pids())
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for round_no in range(repeats):
        for variant in VARIANTS:
            note = preflight(f"saturation/{variant}#{round_no + 1}", ours, settle)
            log(f"saturation ({variant}, round {round_no + 1}): wrk -t2 -c256, {duration} s")
            res = saturation(server, key, variant, skus, stores, duration=duration)
            res["preflight"] = note
            runs[variant].append(res)
            log(
                f"  {res['throughput_rps']} req/s, p50 {res['p50_ms']} ms, p99"
                f" {res['p99_ms']} ms, errors {res['errors']}, statuses {res['status_counts']},"
                " server"
                f" {res['cpu']['server_cpus_used']} CPUs, wrk {res['cpu']['generator_cpus_used']}"
                f" CPUs, others {res['cpu']['other_cpus_used']} CPUs"
            )
    return best_rounds(runs)


def run_baseline(
    variant: str,
    database_url: str,
    skus: list[str],
    stores: list[str],
    *,
    workers: int,
    duration: int,
    settle: float,
) -> dict[str, Any]:
    """wrk -c256 on one of saturation's yardsticks (:data:`BASELINES`), on a server of its own
    over the run's database: the bare ASGI floor, or the reference design rebuilt small (after
    a 5 s round that warms the database's cache for it, as the api's warm-up does for Sincro)."""
    from bench.baselines import BareServer, ReferenceServer

    server = (
        BareServer(database_url, workers) if variant == "bare" else ReferenceServer(database_url)
    )
    with server:
        if variant == "reference":
            saturation(server, "", "reference", skus, stores, duration=5)
        note = preflight(f"saturation/{variant}", set(server.pids()), settle)
        log(f"saturation ({variant}: {server.command}): wrk -t2 -c256, {duration} s")
        res = saturation(server, "", variant, skus, stores, duration=duration)
    res["preflight"], res["server_command"] = note, server.command
    log(
        f"  {res['throughput_rps']} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms,"
        f" errors {res['errors']}, statuses {res['status_counts']},"
        f" server {res['cpu']['server_cpus_used']} CPUs"
    )
    return res


def saturation_ratios(results: dict[str, Any]) -> dict[str, float]:
    """Each measured variant's throughput over each yardstick's of the same run: the floor
    through the stack (``/health``), the bare ASGI floor, the reference design."""
    rps = {
        v: r["throughput_rps"]
        for v, r in results.items()
        if isinstance(r, dict) and r.get("throughput_rps")
    }
    out: dict[str, float] = {}
    for variant in ("summary", "store", "floor"):
        for base, name in (
            ("floor", "floor"),
            ("bare", "bare_asgi"),
            ("reference", "reference_design"),
        ):
            if variant in rps and base in rps and variant != base:
                out[f"{variant}_over_{name}"] = round(rps[variant] / rps[base], 2)
    return out


def best_rounds(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The best round of each variant (highest throughput), with every round recorded."""
    out: dict[str, Any] = {}
    for variant, results in runs.items():
        best = max(results, key=lambda r: r["throughput_rps"])
        out[variant] = {
            **best,
            "rounds_rps": [r["throughput_rps"] for r in results],
            "rounds_other_cpus": [r["cpu"]["other_cpus_used"] for r in results],
            "all_rounds": [
                {k: v for k, v in r.items() if k not in ("wrk_stdout", "all_rounds")}
                for r in results
            ],
        }
    return out


def main() -> None:
    """One phase alone, a fresh (warmed) api per run:
    ``python -m bench.availability --db postgresql --phase reference --variants floor,summary``.
    """
    parser = argparse.ArgumentParser(description="Availability benchmarks alone")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--phase", choices=["reference", "saturation"], default="reference")
    parser.add_argument(
        "--variants",
        default="",
        help=f"comma-separated, of {', '.join(VARIANTS + BASELINES)}; default: the three for"
        " the reference phase, all five (with the bare ASGI floor and the reference design)"
        " for saturation",
    )
    parser.add_argument("--duration", type=int, default=0)
    parser.add_argument("--settle", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    add_redis_argument(parser)
    args = parser.parse_args()
    variants = tuple(v for v in args.variants.split(",") if v) or (
        VARIANTS + BASELINES if args.phase == "saturation" else VARIANTS
    )
    allowed = VARIANTS + BASELINES if args.phase == "saturation" else VARIANTS
    if wrong := sorted(set(variants) - set(allowed)):
        parser.error(f"--variants: {', '.join(wrong)}: the {args.phase} phase has {allowed}")
    with redis_settings(args.redis_url) as settings:
        _main(args, variants, settings)


def _main(args: argparse.Namespace, variants: tuple[str, ...], settings: dict[str, str]) -> None:
    from bench.harness import fresh_database, list_skus, list_stores

    out: dict[str, Any] = {"arguments": vars(args)}
    with fresh_database(args.db, stores=args.stores, products=args.products) as db:
        skus, stores = list_skus(db.url), list_stores(db.url)
        for variant in variants:
            if variant in BASELINES:
                out[variant] = run_baseline(
                    variant, db.url, skus, stores, workers=args.workers,
                    duration=args.duration or 30, settle=args.settle,
                )  # fmt: skip
                continue
            with ApiServer(db.url, workers=args.workers, settings=settings) as server:
                key = server.create_key()
                warm = warm_up(server, key, skus, stores, 180)
                if args.phase == "reference":
                    res = run_reference(
                        server, key, skus, stores, duration=args.duration or 60,
                        settle=args.settle, rng=random.Random(1), variants=(variant,),
                    )  # fmt: skip
                else:
                    res = {
                        variant: saturation(
                            server, key, variant, skus, stores, duration=args.duration or 30
                        )
                    }
                res[variant]["warm_up"] = warm
                out[variant] = res[variant]
    if args.phase == "saturation":
        out["ratios"] = saturation_ratios(out)
        log(f"ratios: {out['ratios']}")
    emit(out, args.out)


if __name__ == "__main__":
    main()
