"""Measure a change side by side with the commit before it, in one run.

    python -m bench.side_by_side --base REV [--rounds 3] [--db sqlite,postgresql]
        [--which demo_load,snapshot,erp_feed]

The base commit is checked out in a temporary git worktree (sharing this checkout's virtual
environment; its own ``src`` is put first on ``PYTHONPATH``), and each benchmark runs
alternately on the base and on this tree, ``--rounds`` times each, so that both see the same
machine state. Prints one line per run and a summary (median, min, max per side) and writes
the whole record to ``bench/results/side_by_side-<time>.json``.

- ``demo_load``: ``bench/demo_load.py`` on a fresh, migrated database (total seconds);
- ``snapshot``: the 1.81 M-position MB52 snapshot ingest (seconds of the child process);
- ``erp_feed``: a 10,000-line movement file to the SSE feed (median seconds over 3 files);
- ``saturation``: the online availability summary under ``wrk -c256`` (requests/s, 15 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import loadavg, log

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def _env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")}
    env["PYTHONPATH"] = f"{tree / 'src'}{os.pathsep}{tree}"
    return env


def _run(tree: Path, argv: list[str], timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed in {tree}:\n{done.stderr[-3000:]}")
    return done.stdout


def demo_load(tree: Path, kind: str) -> float:
    if kind == "sqlite":
        work = Path(tempfile.mkdtemp(prefix="sbs-demo-"))
        try:
            url = f"sqlite:///{work / 'demo.sqlite'}"
            out = _run(tree, ["bench/demo_load.py", "--database-url", url, "--migrate"])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        out = _pg_demo_load(tree)
    return float(re.search(r"^seconds\s+([\d.]+)", out, re.M).group(1))  # type: ignore[union-attr]


def _pg_demo_load(tree: Path) -> str:
    from bench.harness import _pg_admin, _pg_url

    name = f"sincro_sbs_{os.getpid()}_{dt.datetime.now().strftime('%H%M%S%f')}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        return _run(tree, ["bench/demo_load.py", "--database-url", _pg_url(name), "--migrate"])
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def snapshot(tree: Path, kind: str) -> float:
    module = (
        "bench.snapshot"
        if (tree / "bench" / "snapshot.py").exists()
        else "tests.connectors.sap_files.bench_snapshot"
    )
    out = _run(tree, ["-m", module, "--backend", kind])
    report = next(json.loads(line) for line in out.splitlines() if line.startswith('{"backend"'))
    return float(report["seconds"])


def erp_feed(tree: Path, kind: str) -> float:
    out = _run(tree, ["-m", "bench.erp_feed", "--db", kind, "--repeat", "3", "--outage", "0"])
    results = json.loads(out[out.index("{") :])
    return float(results[kind]["movement_file"]["last_event_median_s"])


def saturation(tree: Path, kind: str) -> float:
    """Requests per second of the online summary under wrk -c256 (higher is better)."""
    out = _run(
        tree,
        ["-m", "bench.availability", "--db", kind, "--phase", "saturation",
         "--variants", "summary", "--duration", "15", "--stores", "1800"],
    )  # fmt: skip
    return float(json.loads(out[out.index("{") :])["summary"]["throughput_rps"])


BENCHMARKS: dict[str, Callable[[Path, str], float]] = {
    "demo_load": demo_load,
    "snapshot": snapshot,
    "erp_feed": erp_feed,
    "saturation": saturation,
}


def _worktree(base: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="sbs-base-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), base],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (folder / ".venv").symlink_to(REPO / ".venv")
    return folder


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks on a base commit and this tree")
    parser.add_argument("--base", required=True, help="the commit before the change")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--which", default="demo_load,snapshot,erp_feed")
    args = parser.parse_args(argv)
    base_tree = _worktree(args.base)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    record: dict[str, Any] = {"base": args.base, "head": head, "load_before": loadavg()}
    try:
        for name in args.which.split(","):
            for kind in args.db.split(","):
                runs: dict[str, list[float]] = {"base": [], "head": []}
                for round_ in range(args.rounds):
                    for side, tree in (("base", base_tree), ("head", REPO)):
                        seconds = BENCHMARKS[name](tree, kind)
                        runs[side].append(seconds)
                        log(f"{name} {kind} round {round_ + 1} {side}: {seconds:.2f}")
                record[f"{name}/{kind}"] = {
                    side: _summary(v) | {"runs": v} for side, v in runs.items()
                }
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO)
    record["load_after"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"side_by_side-{stamp}.json").write_text(json.dumps(record, indent=2))
    for key, sides in record.items():
        if isinstance(sides, dict) and "base" in sides:
            b, h = sides["base"], sides["head"]
            print(f"{key:28} base {b['median']:9.2f} [{b['min']}-{b['max']}]   "
                  f"head {h['median']:9.2f} [{h['min']}-{h['max']}]")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
