"""E-mails/hour with 1, 2, 4 and 8 worker processes against a sink that adds latency per
message, next to a sequential sender on the same data (issue #9, section 9).

    python -m bench.messaging_throughput --recipients 2000 --latency 0.05 --workers 1,2,4,8
    python -m bench.messaging_throughput --recipients 20000 --latency 0 --workers 8   # peak

Each worker count runs a fresh campaign over the same customers (PostgreSQL, RabbitMQ, Redis).
Prints one JSON line per configuration: ``seconds``/``per_hour`` run from the committed start to
the last row resolved (planning included, the historical figure); ``sink_seconds``/
``sink_per_hour`` from the campaign's first to its last message accepted at the sink (sending
alone); ``planning_seconds`` from the start to the last ledger row written; ``cpu_ms_per_msg``
the CPU (user + system, /proc) all workers spent per message, planning included; ``load``
the 1-minute load average before and after."""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.harness import log
from bench.messaging_common import (
    START,
    campaign_timing,
    messaging_run,
    sequential,
    wait_done,
    workers_cpu,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--no-sequential", action="store_true")
    parser.add_argument(
        "--sequential-per-hour",
        type=float,
        help="the sequential sender's e-mails/hour measured before (implies --no-sequential)",
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    results = []
    with messaging_run(args.recipients, args.latency, args.rate) as run:
        if not args.no_sequential and args.sequential_per_hour is None:
            seconds = sequential(run, args.recipients)
            results.append({"sender": "sequential", "workers": 1, "seconds": round(seconds, 2),
                            "per_hour": round(args.recipients / seconds * 3600)})  # fmt: skip
            log(f"sequential: {results[-1]}")
        for n in counts:
            for i in range(len(run.workers), n):
                run.start_worker(f"w{i}")
            time.sleep(3)  # the workers connect
            load_before, cpu_before = os.getloadavg()[0], workers_cpu(run)
            already = len(run.sink_lines())
            campaign = int(run.python(START))  # committed: from here on, the workers' time
            seconds = wait_done(run, campaign, args.recipients, timeout=3600)  # incl. planning
            cpu = workers_cpu(run) - cpu_before
            accepted = [stamp for stamp, _, _ in run.sink_lines()[already:]]
            sink_seconds = max(accepted) - min(accepted)
            planning = campaign_timing(run, campaign)
            load_after = os.getloadavg()[0]
            results.append(
                {
                    "sender": "workers",
                    "workers": n,
                    "seconds": round(seconds, 2),
                    "per_hour": round(args.recipients / seconds * 3600),
                    "sink_seconds": round(sink_seconds, 2),
                    "sink_per_hour": round(len(accepted) / sink_seconds * 3600),
                    "planning_seconds": round(planning, 2),
                    "cpu_ms_per_msg": round(cpu / args.recipients * 1000, 3),
                    "load": [round(load_before, 2), round(load_after, 2)],
                }
            )
            log(f"{n} workers: {results[-1]}")
    base = next(
        (r["per_hour"] for r in results if r["sender"] == "sequential"), args.sequential_per_hour
    )
    for r in results:
        if base:
            r["vs_sequential"] = round(r["per_hour"] / base, 2)
            if "sink_per_hour" in r:
                r["sink_vs_sequential"] = round(r["sink_per_hour"] / base, 2)
        print(json.dumps({"recipients": args.recipients, "latency": args.latency, **r}))


if __name__ == "__main__":
    main()
