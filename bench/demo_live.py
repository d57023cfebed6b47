"""What users run: the demo with its simulators and sync live, against the same data served
quietly (issue #8: the running demo must not starve its own api).

    python -m bench.demo_live [--stores 1800] [--seconds 20] [--connections 64]

1. Loads the demo operator once (``sincro demo --no-serve``) in a temporary var dir.
2. Quiet: ``sincro serve`` with no ERP sources; warms the cache; ``wrk`` on the online
   availability summary (random SKUs) for ``--seconds``.
3. Live: ``sincro demo`` (simulated ERPs writing SAP files and answering REST syncs, the
   watcher, worker, beat); after a settle time, the same ``wrk``; then, with no load, the CPU
   each service uses over 30 s (the watcher's target: under 5 % of a core while no file is
   complete); then the time from ``POST /v1/movements`` answering to the SSE event
   (10 movements a second for ``--seconds``), p50/p99.

Prints a JSON report; the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.availability import saturation, warm_up
from bench.harness import SINCRO, ApiServer, list_skus, list_stores, loadavg, log, proc_cpu_seconds


class Served(ApiServer):
    """``sincro serve`` or ``sincro demo`` on a var dir that already holds the demo."""

    def __init__(self, var_dir: Path, command: list[str], **env: str) -> None:
        super().__init__(f"sqlite:///{var_dir / 'sincro.sqlite'}", workers=1, var_dir=var_dir)
        self.env.update(env)
        self.args = command
        self.command = "sincro " + " ".join(command)

    def argv(self) -> list[str]:
        return [str(SINCRO), *self.args]

    def start(self, timeout: float = 300.0) -> Served:
        super().start(timeout)
        return self

    def cpu_by_service(self, seconds: float) -> dict[str, float]:
        """Share of a core each child service used over ``seconds`` (by its command line)."""
        before = {pid: proc_cpu_seconds([pid]) for pid in self.pids()}
        time.sleep(seconds)
        shares: dict[str, float] = {}
        for pid, start in before.items():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = _service_name([a.decode(errors="replace") for a in argv if a])
            used = proc_cpu_seconds([pid]) - start
            shares[name] = round(shares.get(name, 0.0) + used / seconds, 3)
        return shares


def _service_name(argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-") and "/" not in a and a != "sincro.cli"]
    for candidate in ("watch", "erp", "worker", "beat", "api", "relay", "serve", "demo"):
        if candidate in words:
            return "simulate" if candidate == "erp" else candidate
    return " ".join(argv[-2:])


def event_latency(server: Served, key: str, sku: str, store: str, seconds: int) -> dict[str, Any]:
    """10 receipts a second through the API; time from each answer to its SSE event."""
    seen: dict[str, float] = {}
    ready = threading.Event()

    def listen() -> None:
        headers = {"X-API-Key": key}
        url = f"{server.base_url}/v1/events/stream?sku={sku}"
        with httpx.stream("GET", url, headers=headers, timeout=None) as response:
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                elif line.startswith("data: "):
                    seen.setdefault(
                        json.loads(line[6:]).get("reference") or "", time.perf_counter()
                    )
                if len(seen) > seconds * 10 + 5:
                    return

    threading.Thread(target=listen, daemon=True).start()
    ready.wait(10)
    answered: dict[str, float] = {}
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}) as client:
        for _ in range(seconds * 10):
            ref = f"lat-{uuid.uuid4().hex[:10]}"
            body = {"movements": [{"sku": sku, "location": store, "quantity": 1,
                                   "reason": "receipt", "reference": ref}]}  # fmt: skip
            headers = {"Idempotency-Key": ref}
            if client.post("/v1/movements", json=body, headers=headers).status_code == 200:
                answered[ref] = time.perf_counter()
            time.sleep(0.1)
    time.sleep(2)
    delays = sorted((seen[r] - t) * 1000 for r, t in answered.items() if r in seen)
    if not delays:
        return {"sent": len(answered), "received": 0}
    return {
        "sent": len(answered),
        "received": len(delays),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 1),
        "max_ms": round(delays[-1], 1),
    }


def measure(server: Served, args: argparse.Namespace, live: bool) -> dict[str, Any]:
    key = server.create_key()
    skus, stores = list_skus(server.database_url), list_stores(server.database_url)
    out: dict[str, Any] = {"command": server.command, "load_before": loadavg()}
    out["warm_up"] = warm_up(server, key, skus, stores, 120)
    if live:
        time.sleep(args.settle)
    out["saturation"] = saturation(
        server, key, "summary", skus, stores, duration=args.seconds, connections=args.connections
    )
    log(f"{'live' if live else 'quiet'}: {out['saturation']['throughput_rps']} req/s")
    if live:
        out["cpu_idle_30s"] = server.cpu_by_service(30)
        out["event_latency"] = event_latency(server, key, skus[0], stores[0], args.seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="The running demo against the quiet api")
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--settle", type=float, default=30)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="sincro-demo-live-"))
    report: dict[str, Any] = {"arguments": vars(args)}
    try:
        loader = Served(var_dir, [])
        loaded = loader.cli("demo", "--no-serve", "--stores", str(args.stores), timeout=900)
        if loaded.returncode != 0:
            raise RuntimeError(loaded.stderr[-2000:])
        none = var_dir / "no-sources.yaml"
        none.write_text("sources: []\n")
        quiet = Served(var_dir, ["serve"], SINCRO_CONNECTORS_FILE=str(none))
        with quiet:
            report["quiet"] = measure(quiet, args, live=False)
        live = Served(var_dir, ["demo", "--stores", str(args.stores)])
        with live:
            report["live"] = measure(live, args, live=True)
        q = report["quiet"]["saturation"]["throughput_rps"]
        report["live_over_quiet"] = round(report["live"]["saturation"]["throughput_rps"] / q, 2)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
