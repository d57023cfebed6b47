"""Peak campaign throughput with the availability API under a steady read load (issue #9,
section 9): "at least 1,000,000 e-mails/hour … and the availability API's p99 under 200
reads/s during it within 2x of its p99 at the same load with no campaign".

    python -m bench.messaging_reads --recipients 40000 --workers 8 --reads 200 --seconds 40

One PostgreSQL database holds the demo operator (1,800 stores x 1,000 SKUs) and the campaign's
customers; ``sincro api`` (one process) serves the online availability summary; ``hey``
processes (a C-speed Go client, ``-q`` paced) read it at ``--reads``/s over random SKUs, first
with no campaign, then while the campaign runs against the sink with no added latency.
Prints one JSON object."""

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

from bench.harness import ApiServer, latency_summary_ms, list_skus, log, machine_info
from bench.messaging_common import START, Run, counts_reader, messaging_run, wait_done

HEY_PROCS = 4
CONNECTIONS_PER_PROC = 5


def _load_demo(run: Run) -> None:
    run.python(
        "from sincro.demo.loader import load_demo; from sincro.config import get_settings;"
        "load_demo(get_settings().database_url)"
    )


def _settle(run: Run) -> None:
    """VACUUM ANALYZE what the loads wrote, so autovacuum does not run during a phase."""
    run.python(
        "import psycopg; from sincro.config import get_settings\n"
        "url = get_settings().database_url.replace('postgresql+psycopg://', 'postgresql://')\n"
        "with psycopg.connect(url, autocommit=True) as c: c.execute('VACUUM (ANALYZE)')"
    )


def reads(server: ApiServer, key: str, skus: list[str], per_second: int, seconds: int) -> dict:
    """``HEY_PROCS`` hey processes, each ``CONNECTIONS_PER_PROC`` connections paced so that
    together they send ``per_second`` requests a second; latencies from hey's CSV."""
    workdir = Path(tempfile.mkdtemp(prefix="sincro-bench-reads-"))
    qps = max(1, round(per_second / (HEY_PROCS * CONNECTIONS_PER_PROC)))
    rng = random.Random(9)
    procs = []
    for i in range(HEY_PROCS):
        url = f"{server.base_url}/v1/availability/{rng.choice(skus)}"
        cmd = ["hey", "-z", f"{seconds}s", "-c", str(CONNECTIONS_PER_PROC), "-q", str(qps),
               "-t", "20", "-o", "csv", "-H", f"X-API-Key: {key}", url]  # fmt: skip
        out = open(workdir / f"hey-{i}.csv", "wb")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL), out))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    for proc, out in procs:
        proc.wait(timeout=seconds * 3 + 60)
        out.close()
    for i in range(HEY_PROCS):
        with open(workdir / f"hey-{i}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if float(row["offset"]) < 1.0:  # connections opening
                    continue
                latencies.append(float(row["response-time"]))
                statuses[row["status-code"]] = statuses.get(row["status-code"], 0) + 1
    return {
        "reads_per_second": round(len(latencies) / max(1.0, seconds - 1), 1),
        "statuses": statuses,
        **latency_summary_ms(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine_info(), **vars(args)}
    with messaging_run(args.recipients, 0.0, 100_000, prepare=_load_demo) as run:
        server = ApiServer(run.database_url, workers=1).start()
        try:
            key = server.create_key("admin")
            skus = list_skus(run.database_url)
            _settle(run)
            reads(server, key, skus, args.reads, 15)  # warm the api's caches
            log(f"reads alone: {args.reads}/s for {args.seconds} s")
            result["reads_alone"] = reads(server, key, skus, args.reads, args.seconds)
            log(f"  {result['reads_alone']}")
            for i in range(args.workers):
                run.start_worker(f"w{i}")
            time.sleep(3)
            campaign = int(run.python(START))
            started = time.monotonic()
            time.sleep(5)  # the campaign planned and sending at full speed
            count = counts_reader(run)
            log(f"reads during the campaign: {args.reads}/s for {args.seconds} s")
            sent_before, t0 = count(campaign).get("sent", 0), time.monotonic()
            result["reads_during_campaign"] = reads(server, key, skus, args.reads, args.seconds)
            sent_after, t1 = count(campaign).get("sent", 0), time.monotonic()
            log(f"  {result['reads_during_campaign']}")
            wait_done(run, campaign, args.recipients, timeout=3600)
            seconds = time.monotonic() - started
            log(f"reads alone again, after the campaign: {args.reads}/s for {args.seconds} s")
            result["reads_alone_after"] = reads(server, key, skus, args.reads, args.seconds)
            log(f"  {result['reads_alone_after']}")
            result["campaign"] = {
                "seconds": round(seconds, 2),
                "per_hour_whole_campaign": round(args.recipients / seconds * 3600),
                "per_hour_during_reads": round((sent_after - sent_before) / (t1 - t0) * 3600),
                "still_sending_after_reads": sent_after < args.recipients,
            }
        finally:
            server.stop()
    alone = min(
        result["reads_alone"].get("p99_ms") or float("nan"),
        result["reads_alone_after"].get("p99_ms") or float("nan"),
    )  # the stricter baseline
    during = result["reads_during_campaign"].get("p99_ms") or float("nan")
    result["p99_ratio"] = round(during / alone, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
