"""Run every benchmark: ``python -m bench.run_all [--db sqlite|postgresql|both] [--quick]``.

Per database: a fresh database with the demo operator (timed), then

1. availability, reference scenario (hey, 3,000 connections x 1 req/s, 60 s): floor
   (/health), online summary, one store's row;
2. availability, saturation (wrk -c256, 30 s): the same three, two rounds, best kept;
3. change latency (movement -> SSE event) and the reservation storm.

Each reference run and each saturation round gets a freshly started api whose snapshot caches
are warmed first, so that every measurement starts warm and ends well before the snapshot TTL
(``SINCRO_AVAILABILITY_CACHE_TTL_SECONDS``) makes them all expire at once. ``--quick`` runs
everything for 5 s on one api per database. Prints a table and writes the figures to
bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import signal
import sys
import traceback
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import availability, latency, reservations
from bench.harness import (
    DEFAULT_WORKERS,
    REPO,
    ApiServer,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
)

RESULTS = REPO / "bench" / "results"
REFERENCE_RPS = 1000  # the reference design's saturation throughput


def _phase(out: dict[str, Any], name: str, fn: Any) -> None:
    try:
        out[name] = fn()
    except Exception as exc:  # one broken phase must not hide the others' figures
        log(f"{name} failed: {exc!r}")
        out[name] = {"error": repr(exc), "traceback": traceback.format_exc()[-3000:]}


def run_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    ref_s = args.duration or (5 if quick else 60)
    sat_s = args.duration or (5 if quick else 30)
    settle = 6 if quick else 30
    reps = 1 if quick else 2
    warm_max = 120 if quick else 180
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"database": kind, "workers": args.workers}
    with fresh_database(kind, stores=args.stores, dcs=args.dcs, products=args.products) as db:
        out["demo_load"] = db.demo
        skus, stores = list_skus(db.url), list_stores(db.url)
        out["catalogue"] = {"skus": len(skus), "stores": len(stores)}

        def on_fresh_api(work: Any) -> dict[str, Any]:
            """Start an api, warm its caches, run ``work(server, key)``."""
            with ApiServer(db.url, workers=args.workers) as server:
                out.setdefault("api_command", server.command)
                key = server.create_key()
                warm = availability.warm_up(server, key, skus, stores, warm_max)
                res: dict[str, Any] = work(server, key)
                for value in res.values():
                    if isinstance(value, dict):
                        value["warm_up"] = warm
                return res

        def reference(variants: tuple[str, ...]) -> dict[str, Any]:
            return on_fresh_api(
                lambda server, key: availability.run_reference(
                    server, key, skus, stores, duration=ref_s, settle=settle, rng=rng,
                    variants=variants,
                )
            )  # fmt: skip

        def saturation_round() -> dict[str, Any]:
            return on_fresh_api(
                lambda server, key: availability.run_saturation(
                    server, key, skus, stores, duration=sat_s, settle=settle
                )
            )

        # Every measurement starts from warm caches and ends well before the snapshot TTL
        # (SINCRO_AVAILABILITY_CACHE_TTL_SECONDS): a fresh api per reference run and per
        # saturation round (in --quick, one api for everything).
        if quick:

            def both(server: ApiServer, key: str) -> dict[str, Any]:
                return {
                    "reference": availability.run_reference(
                        server, key, skus, stores, duration=ref_s, settle=settle, rng=rng
                    ),
                    "saturation": availability.run_saturation(
                        server, key, skus, stores, duration=sat_s, settle=settle
                    ),
                }

            _phase(out, "availability", lambda: on_fresh_api(both))
            both_out = out.pop("availability")
            out["reference"] = both_out.get("reference", both_out)
            out["saturation"] = both_out.get("saturation", both_out)
        else:

            def every_reference() -> dict[str, Any]:
                merged: dict[str, Any] = {}
                for variant in availability.VARIANTS:
                    merged.update(reference((variant,)))
                return merged

            _phase(out, "reference", every_reference)

            def every_round() -> dict[str, Any]:
                runs: dict[str, list[dict[str, Any]]] = {v: [] for v in availability.VARIANTS}
                for _ in range(reps):
                    for variant, res in saturation_round().items():
                        runs[variant].append(res)
                best = availability.best_rounds(runs)
                for variant in availability.BASELINES:
                    best[variant] = availability.run_baseline(
                        variant, db.url, skus, stores, workers=args.workers, duration=sat_s,
                        settle=settle,
                    )  # fmt: skip
                best["ratios"] = availability.saturation_ratios(best)
                return best

            _phase(out, "saturation", every_round)
        with ApiServer(db.url, workers=args.workers) as server:
            key = server.create_key()
            hot_pool = skus[: len(skus) - 1]
            _phase(
                out,
                "latency",
                lambda: latency.run(
                    server, key, skus[-1], stores[-1], count=300, settle=settle, rng=rng
                ),
            )
            _phase(
                out,
                "storm",
                lambda: reservations.run(
                    server, key, hot_pool, stores[0], buyers=args.buyers, settle=settle, rng=rng
                ),
            )
    return out


# --------------------------------------------------------------------------------------------
# Targets


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: benchmark, what, target, measured, ratio to the floor, status."""
    rows: list[dict[str, Any]] = []
    kind = result["database"]

    def add(bench: str, what: str, target: str, measured: str, ratio: str, ok: bool | None):
        rows.append(
            {
                "database": kind,
                "benchmark": bench,
                "what": what,
                "target": target,
                "measured": measured,
                "vs_floor": ratio,
                "status": _status(ok),
            }
        )

    ref = result.get("reference", {})
    floor = ref.get("floor", {})
    for variant in ("summary", "store"):
        res = ref.get(variant)
        if not res or "error" in ref:
            add("reference", variant, "runs", ref.get("error", "missing"), "", False)
            continue
        label = "online summary" if variant == "summary" else "at one store"
        add(
            "reference",
            f"{label}: errors",
            "0",
            f"{res['errors']} of {res['requests_expected']}",
            "",
            res["errors"] == 0,
        )
        ratio = res["p99_ms"] / floor["p99_ms"] if floor.get("p99_ms") else float("nan")
        add(
            "reference",
            f"{label}: p99",
            f"<= 1.5 x floor p99 ({1.5 * floor.get('p99_ms', 0):.1f} ms)",
            f"{res['p99_ms']:.1f} ms (floor {floor.get('p99_ms', 0):.1f} ms)",
            f"{ratio:.2f}x",
            ratio <= 1.5,
        )
    sat = result.get("saturation", {})
    sfloor = sat.get("floor", {})
    res = sat.get("summary")
    if res and "error" not in sat:
        rps, frps = res["throughput_rps"], sfloor.get("throughput_rps", 0)
        ratio = f"{rps / frps:.2f}x" if frps else ""
        add(
            "saturation",
            "online summary",
            ">= 8,000 req/s",
            f"{rps:,.0f} req/s",
            ratio,
            rps >= 8000,
        )
        add(
            "saturation",
            "online summary",
            ">= 0.5 x floor",
            f"floor {frps:,.0f} req/s",
            ratio,
            bool(frps) and rps >= 0.5 * frps,
        )
        add(
            "saturation",
            "online summary",
            f">= 10 x reference ({10 * REFERENCE_RPS:,} req/s)",
            f"{rps / REFERENCE_RPS:.1f}x reference",
            ratio,
            rps >= 10 * REFERENCE_RPS,
        )
        add("saturation", "online summary", "0 errors", str(res["errors"]), "", res["errors"] == 0)
    else:
        add("saturation", "online summary", "runs", str(sat.get("error", "missing")), "", False)
    storm = result.get("storm", {})
    if "successes" in storm:
        add(
            "storm",
            "successful reservations",
            f"exactly {storm['expected_successes']}",
            str(storm["successes"]),
            "",
            storm["successes"] == storm["expected_successes"],
        )
        add(
            "storm",
            "oversell",
            "none (reserved == 100, available 0 per SKU)",
            "none" if storm["levels_ok"] and not storm["oversold_skus"] else "OVERSOLD or short",
            "",
            storm["levels_ok"] and not storm["oversold_skus"],
        )
        add(
            "storm",
            "ledger reconciles",
            "sincro inventory verify exit 0",
            f"exit {storm['verify_exit_code']}",
            "",
            storm["verify_exit_code"] == 0,
        )
        add(
            "storm",
            "throughput",
            ">= 1,000 reservations/s (PostgreSQL)",
            f"{storm['reservations_per_second']:,.0f}/s",
            "",
            storm["reservations_per_second"] >= 1000 if kind == "postgresql" else None,
        )
    else:
        add("storm", "runs", "runs", str(storm.get("error", "missing")), "", False)
    lat = result.get("latency", {})
    if "from_accepted" in lat:
        fa = lat["from_accepted"]
        add(
            "latency",
            "movement -> SSE event, p99",
            "<= 100 ms",
            f"p50 {fa['p50_ms']:.1f} / p99 {fa['p99_ms']:.1f} / max {fa['max_ms']:.1f} ms"
            f" ({fa['count']} samples, {lat['missing_events']} missing)",
            "",
            fa["p99_ms"] <= 100 and lat["missing_events"] == 0,
        )
    else:
        add("latency", "runs", "runs", str(lat.get("error", "missing")), "", False)
    demo = result.get("demo_load", {})
    add(
        "demo load",
        f"{demo.get('stores')} stores x {demo.get('products')} SKUs",
        "(none)",
        f"{demo.get('seconds')} s",
        "",
        None,
    )
    return rows


def print_table(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Sincro benchmarks")
    for column in ("database", "benchmark", "what", "target", "measured", "vs floor", "status"):
        table.add_column(column)
    for row in rows:
        style = {"MET": "green", "MISSED": "bold red"}.get(row["status"], "")
        table.add_row(
            row["database"],
            row["benchmark"],
            row["what"],
            row["target"],
            row["measured"],
            row["vs_floor"],
            f"[{style}]{row['status']}[/]" if style else row["status"],
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every Sincro benchmark")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="5 s per measurement")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="api workers")
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--dcs", type=int, default=10)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--duration", type=int, default=0, help="override seconds per run")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)
    # Stopped with Ctrl+C or a TERM signal (also when started in the background): unwind, so
    # that the api is stopped and the benchmark database dropped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = dt.datetime.now(dt.UTC)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    report: dict[str, Any] = {
        "machine": machine_info(),
        "arguments": vars(args),
        "command": "python -m bench.run_all"
        + (f" --db {args.db}" if args.db != "both" else "")
        + (" --quick" if args.quick else ""),
        "results": [],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    for kind in kinds:
        log(f"=== {kind} ===")
        report["results"].append(run_database(kind, args))
        path.write_text(json.dumps(report, indent=2, default=str))
    report["targets"] = [row for result in report["results"] for row in evaluate(result)]
    report["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(report, indent=2, default=str))
    console = Console(width=200)
    print_table(report["targets"], console)
    loaded = [
        p["measurement"]
        for result in report["results"]
        for p in _preflights(result)
        if p.get("loaded")
    ]
    if loaded:
        console.print(
            f"[yellow]The machine was loaded (load average > 1.5 or other processes busy)"
            f" before {len(loaded)} measurement(s): {', '.join(loaded)}[/]"
        )
    console.print(f"results: {path.relative_to(REPO)}")
    return 0


def _preflights(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for phase in ("reference", "saturation"):
        for res in result.get(phase, {}).values():
            if isinstance(res, dict) and "preflight" in res:
                found.append(res["preflight"])
    for phase in ("latency", "storm"):
        if "preflight" in result.get(phase, {}):
            found.append(result[phase]["preflight"])
    return found


if __name__ == "__main__":
    raise SystemExit(main())
