"""The global rate (issue #9, section 9): with the rate at 200/s, 8 workers and a sink with
no added latency, no one-second window at the sink holds more than 220 messages.

    python -m bench.messaging_rate --rate 200 --workers 8 --recipients 6000
"""

from __future__ import annotations

import argparse
import json
import time

from bench.messaging_common import START, messaging_run, wait_done


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = start = 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=6000)
    args = parser.parse_args()
    with messaging_run(args.recipients, 0.0, args.rate) as run:
        for i in range(args.workers):
            run.start_worker(f"w{i}")
        time.sleep(3)
        campaign = int(run.python(START))
        wait_done(run, campaign, args.recipients, timeout=3600)
        stamps = [t for t, _, _ in run.sink_lines()]
    span = max(stamps) - min(stamps)
    busiest = busiest_second(stamps)
    print(
        json.dumps(
            {
                "rate": args.rate,
                "workers": args.workers,
                "recipients": args.recipients,
                "busiest_second": busiest,
                "mean_per_second": round(len(stamps) / span, 1) if span else None,
                "limit": round(args.rate * 1.1),
                "ok": busiest <= args.rate * 1.1,
            }
        )
    )


if __name__ == "__main__":
    main()
