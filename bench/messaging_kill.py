"""A campaign during which one worker is killed with SIGKILL and the campaign is paused and
resumed (issue #9, section 9): every recipient received it, nobody received two different
Message-IDs, and a repeated Message-ID happens only for messages in flight at the kill (at most
one per killed connection), reported in doubt.

    python -m bench.messaging_kill --recipients 100000 --workers 4 --latency 0.005
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections import Counter, defaultdict

from bench.harness import log
from bench.messaging_common import START, TICK, counts_reader, messaging_run, wait_done

ACTION = """
from sincro.config import get_settings
from sincro.db import database_for
from sincro.messaging import service
from sincro.audit import Actor
db = database_for(get_settings())
with db.write() as s:
    service.transition(s, {campaign}, "{action}", Actor.cli("bench"))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--rate", type=float, default=100_000)
    args = parser.parse_args()
    n = args.recipients
    with messaging_run(n, args.latency, args.rate) as run:
        for i in range(args.workers):
            run.start_worker(f"w{i}")
        time.sleep(3)
        campaign = int(run.python(START))
        started = time.monotonic()
        read = counts_reader(run)

        def sent() -> int:
            return read(campaign).get("sent", 0)

        while sent() < n * 0.3:
            time.sleep(0.1)
        run.workers[0].send_signal(signal.SIGKILL)
        log(f"killed worker w0 at {sent()} sent")
        while sent() < n * 0.5:
            time.sleep(0.1)
        run.python(ACTION.format(campaign=campaign, action="pause"))
        paused_at = sent()
        time.sleep(2)
        during_pause = sent() - paused_at
        log(f"paused at {paused_at}; {during_pause} finished after the pause (claims in progress)")
        run.python(ACTION.format(campaign=campaign, action="resume"))
        run.python(TICK)
        wait_done(run, campaign, n, timeout=7200, tick_every=5)
        seconds = time.monotonic() - started
        lines = run.sink_lines()
        counts = read(campaign)
    ids: dict[str, set[str]] = defaultdict(set)
    for _, to, mid in lines:
        ids[to].add(mid)
    repeats = sum(c - 1 for c in Counter(mid for _, _, mid in lines).values())
    result = {
        "recipients": n,
        "workers": args.workers,
        "seconds": round(seconds, 1),
        "received_by": len(ids),
        "lost": n - len(ids),
        "two_message_ids": sum(1 for v in ids.values() if len(v) > 1),
        "repeated_message_id": repeats,
        "in_doubt": counts.get("in_doubt", 0),
        "sent_after_pause": during_pause,
        "ok": len(ids) == n
        and all(len(v) == 1 for v in ids.values())
        and repeats <= 1
        and repeats <= counts.get("in_doubt", 0),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
