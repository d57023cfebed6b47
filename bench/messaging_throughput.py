"""E-mails/hour with 1, 2, 4 and 8 worker processes against a sink that adds latency per
message, next to a sequential sender on the same data (issue #9, section 9).

    python -m bench.messaging_throughput --recipients 2000 --latency 0.05 --workers 1,2,4,8
    python -m bench.messaging_throughput --recipients 20000 --latency 0 --workers 8   # peak

Each worker count runs a fresh campaign over the same customers (PostgreSQL, RabbitMQ, Redis).
Prints one JSON line per configuration."""

from __future__ import annotations

import argparse
import json
import time

from bench.harness import log
from bench.messaging_common import START, messaging_run, sequential, wait_done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--no-sequential", action="store_true")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    results = []
    with messaging_run(args.recipients, args.latency, args.rate) as run:
        if not args.no_sequential:
            seconds = sequential(run, args.recipients)
            results.append({"sender": "sequential", "workers": 1, "seconds": round(seconds, 2),
                            "per_hour": round(args.recipients / seconds * 3600)})  # fmt: skip
            log(f"sequential: {results[-1]}")
        for n in counts:
            for i in range(len(run.workers), n):
                run.start_worker(f"w{i}")
            time.sleep(3)  # the workers connect
            campaign = int(run.python(START))  # committed: from here on, the workers' time
            seconds = wait_done(run, campaign, args.recipients, timeout=3600)  # incl. planning
            results.append({"sender": "workers", "workers": n, "seconds": round(seconds, 2),
                            "per_hour": round(args.recipients / seconds * 3600)})  # fmt: skip
            log(f"{n} workers: {results[-1]}")
    base = next((r["per_hour"] for r in results if r["sender"] == "sequential"), None)
    for r in results:
        if base:
            r["vs_sequential"] = round(r["per_hour"] / base, 2)
        print(json.dumps({"recipients": args.recipients, "latency": args.latency, **r}))


if __name__ == "__main__":
    main()
