"""Markdown tables from a results file: ``python -m bench.report bench/results/<file>.json``.

Used to write docs/benchmarks.md; prints to standard output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

LABELS = {
    "floor": "floor: GET /health",
    "summary": "online summary",
    "store": "at one store",
    "bare": "bare ASGI floor (uvicorn)",
    "reference": "reference design (Flask + SQL per request, gunicorn)",
}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: Any) -> str:
    return "" if value is None else f"{value:,.1f}"


def _load(pre: dict[str, Any] | None) -> str:
    if not pre:
        return ""
    flag = " ⚠" if pre.get("loaded") else ""
    return f"{pre['loadavg'][0]:.2f} / {pre['other_processes_cpus']:.2f}{flag}"


def _warm_ups(phase: dict[str, Any]) -> str:
    """The cold-start warm-ups (wrk -c64 rounds) that preceded the measurements."""
    seen, parts = set(), []
    candidates = [phase.get("warm_up")]
    for value in phase.values():
        if isinstance(value, dict):
            candidates.append(value.get("warm_up"))
            candidates += [r.get("warm_up") for r in value.get("all_rounds", [])]
    for warm in candidates:
        if warm and id(warm) not in seen and str(warm) not in seen:
            seen.add(str(warm))
            parts.append(
                f"{warm['seconds']} s ({', '.join(f'{x:,.0f}' for x in warm['rounds_rps'])})"
            )
    return (
        "Cold start: each api was warmed with 5 s rounds of wrk -c64 over random SKUs until the"
        " rate settled; warm-ups took " + "; ".join(parts) + " req/s per round."
    )


def reference(result: dict[str, Any]) -> str:
    ref = result.get("reference", {})
    if "floor" not in ref:
        return f"Not measured: {ref.get('error', 'missing')}"
    floor = ref["floor"]
    rows = []
    for variant in ("floor", "summary", "store"):
        r = ref.get(variant)
        if not r:
            continue
        ratio = r["p99_ms"] / floor["p99_ms"] if floor.get("p99_ms") else float("nan")
        status = ""
        if variant != "floor":
            ok = r["errors"] == 0 and ratio <= 1.5
            status = "MET" if ok else "MISSED"
        rows.append(
            [
                LABELS[variant],
                f"{r['requests_expected']:,}",
                f"{r['status_200']:,}",
                f"{r['errors']:,}",
                f"{r['throughput_rps']:,.0f}",
                _ms(r.get("mean_ms")),
                _ms(r.get("p50_ms")),
                _ms(r.get("p95_ms")),
                _ms(r.get("p99_ms")),
                _ms(r.get("max_ms")),
                f"{ratio:.2f}x",
                _ms(r["after_ramp"].get("p99_ms")),
                f"{r['cpu']['server_cpus_used']:.2f} / {r['cpu']['generator_cpus_used']:.2f}"
                f" / {r['cpu'].get('other_cpus_used', 0):.2f}",
                _load(r.get("preflight")),
                status,
            ]
        )
    header = [
        "target",
        "requests",
        "200",
        "errors",
        "req/s",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "p99 vs floor",
        f"p99 ms after {ref['floor']['after_ramp']['skip_first_s']:.0f} s ramp",
        "CPUs during: server / hey / others",
        "load avg / other CPUs before",
        "target met",
    ]
    return _table(header, rows) + "\n\n" + _warm_ups(ref)


def saturation(result: dict[str, Any]) -> str:
    """Each variant next to the floor through the stack, the bare ASGI floor and the reference
    design rebuilt small, all measured in the same run (bench.baselines); the target is #12's
    (at least 0.85x the floor, 0 errors)."""
    sat = result.get("saturation", {})
    if "floor" not in sat:
        return f"Not measured: {sat.get('error', 'missing')}"
    frps = sat["floor"]["throughput_rps"]
    bare = (sat.get("bare") or {}).get("throughput_rps")
    ref = (sat.get("reference") or {}).get("throughput_rps")
    rows = []
    for variant in ("bare", "floor", "summary", "store", "reference"):
        r = sat.get(variant)
        if not r or "throughput_rps" not in r:
            continue
        rps = r["throughput_rps"]
        status = ""
        if variant in ("summary", "store"):
            status = "MET" if rps >= 0.85 * frps and r["errors"] == 0 else "MISSED"
        rows.append(
            [
                LABELS[variant],
                f"{rps:,.0f}",
                f"{rps / frps:.2f}x",
                f"{rps / bare:.2f}x" if bare else "-",
                f"{rps / ref:.1f}x" if ref else "-",
                f"{r['errors']}",
                _ms(r["p50_ms"]),
                _ms(r["p99_ms"]),
                _ms(r["max_ms"]),
                f"{r['cpu']['server_cpus_used']:.2f} / {r['cpu']['generator_cpus_used']:.2f}"
                f" / {r['cpu'].get('other_cpus_used', 0):.2f}",
                _load(r.get("preflight")),
                status,
            ]
        )
    header = [
        "target",
        "req/s",
        "vs floor (/health)",
        "vs bare ASGI",
        "vs reference design",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms",
        "CPUs during: server / wrk / others",
        "load avg / other CPUs before",
        "target met (>= 0.85x floor)",
    ]
    rounds = "; ".join(
        f"{LABELS[v]} {sat[v].get('rounds_rps')} req/s (other processes"
        f" {sat[v].get('rounds_other_cpus')} CPUs)"
        for v in ("floor", "summary", "store")
        if v in sat
    )
    return _table(header, rows) + f"\n\nEvery round: {rounds}.\n\n" + _warm_ups(sat)


def storm(result: dict[str, Any], kind: str) -> str:
    s = result.get("storm", {})
    if "successes" not in s:
        return f"Not measured: {s.get('error', 'missing')}"
    rate_ok = s["reservations_per_second"] >= 1000
    lat = s["latency_201"]
    rows = [
        ["successful reservations", f"exactly {s['expected_successes']:,}", s["successes"],
         "MET" if s["successes"] == s["expected_successes"] else "MISSED"],
        ["oversell (reserved == 100 and available == 0 on every hot level)", "none",
         "none" if s["levels_ok"] and not s["oversold_skus"] else f"{s['oversold_skus']}",
         "MET" if s["levels_ok"] and not s["oversold_skus"] else "MISSED"],
        ["`sincro inventory verify`", "exit 0", f"exit {s['verify_exit_code']}"
         f" ({s['verify_seconds']} s)", "MET" if s["verify_exit_code"] == 0 else "MISSED"],
        ["throughput (successes / time to the last success)", ">= 1,000/s on PostgreSQL",
         f"{s['reservations_per_second']:,.0f}/s ({s['successes']} in"
         f" {s['seconds_to_last_success']} s)",
         ("MET" if rate_ok else "MISSED") if kind == "postgresql" else "n/a (PostgreSQL target)"],
        ["latency of a successful POST", "", f"p50 {_ms(lat.get('p50_ms'))} / p99"
         f" {_ms(lat.get('p99_ms'))} / max {_ms(lat.get('max_ms'))} ms", ""],
        ["responses", "", ", ".join(f"{k}: {v}" for k, v in s["status_counts"].items()), ""],
        ["CPUs used: server / buyers (one Python process) / others", "",
         f"{s['cpu']['server_cpus_used']:.2f} / {s['cpu']['generator_cpus_used']:.2f} / "
         f"{s['cpu'].get('other_cpus_used', 0):.2f}", ""],
        ["load avg / other CPUs before", "", _load(s.get("preflight")), ""],
    ]  # fmt: skip
    return _table(["check", "target", "measured", "status"], rows)


def latency(result: dict[str, Any]) -> str:
    lat = result.get("latency", {})
    if "from_accepted" not in lat:
        return f"Not measured: {lat.get('error', 'missing')}"
    rows = []
    for label, key in (
        ("POST response received -> event (every subscriber)", "from_accepted"),
        ("POST response received -> event at the last subscriber", "all_subscribers_from_accepted"),
        ("POST sent -> event (every subscriber)", "from_sent"),
    ):
        d = lat[key]
        rows.append(
            [label, d["count"], _ms(d["p50_ms"]), _ms(d["p95_ms"]), _ms(d["p99_ms"]),
             _ms(d["max_ms"])]
        )  # fmt: skip
    p99 = lat["from_accepted"]["p99_ms"]
    ok = p99 <= 100 and lat["missing_events"] == 0
    return (
        _table(["interval", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
        + f"\n\n{lat['accepted']} movements accepted, {lat['subscribers']} SSE subscribers,"
        f" {lat['missing_events']} events missing, {lat['events_before_response']} events"
        f" arrived before the POST's own response (counted as 0 ms). Target p99 <= 100 ms:"
        f" **{'MET' if ok else 'MISSED'}** ({p99:.1f} ms). Load average / other CPUs before:"
        f" {_load(lat.get('preflight'))}."
    )


def demo(result: dict[str, Any]) -> str:
    d = result.get("demo_load", {})
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in d.get("stages", {}).items())
    return (
        f"{d.get('stores')} stores + {d.get('dcs')} DCs x {d.get('products')} SKUs:"
        f" {d.get('stock_levels', 0):,} stock levels, {d.get('movements', 0):,} ledger rows in"
        f" **{d.get('seconds')} s** (load_demo; stages: {stages}); process wall time"
        f" {d.get('wall_seconds')} s; `sincro migrate` before it {d.get('migrate_seconds')} s."
    )


def render(report: dict[str, Any]) -> str:
    parts = []
    for result in report["results"]:
        kind = result["database"]
        parts.append(f"### {kind}\n")
        parts.append(f"#### Reference scenario ({kind})\n\n{reference(result)}\n")
        parts.append(f"#### Saturation ({kind})\n\n{saturation(result)}\n")
        parts.append(f"#### Reservation storm ({kind})\n\n{storm(result, kind)}\n")
        parts.append(f"#### Change latency ({kind})\n\n{latency(result)}\n")
        parts.append(f"#### Demo load ({kind})\n\n{demo(result)}\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    print(render(json.loads(args.results.read_text())))


if __name__ == "__main__":
    main()
