"""The assistant under load while a campaign sends (issue #11, section 6): 1,000 concurrent
conversations, each sending a pt-BR message every 10 s for 60 s (about 100 messages/s), while
real Celery e-mail workers send a campaign at 100 e-mails/s to the bench SMTP sink. Target: bot
reply p99 under 300 ms, and no lost message.

    python -m bench.assistant_load                       # 1,000 x 10 s x 60 s, 100 e-mails/s
    python -m bench.assistant_load --quick               # 100 conversations x 20 s (smoke)
    python -m bench.assistant_load --profile 20          # + py-spy on one api worker

What runs (all on 127.0.0.1, removed at the end): a scratch PostgreSQL database with the demo
operator (``scripted.demo_world``: stores, catalog, plans, promotions, customers with invoices,
datasheets, an order) plus the campaign's consenting customers; ``sincro api`` (uvicorn,
``--api-workers`` processes); ``--mail-workers`` ``celery … -Q messaging,email`` workers with
the global rate at ``--campaign-rate``; the aiosmtpd sink (``bench/messaging_sink.py``); and the
load generator in this process (``bench/assistant_loadgen.py``: one event loop — uvloop — and
one :class:`bench.leanhttp.LeanClient` with a bounded pool; ``--client httpx --loop asyncio``
runs the generator as it was, to compare its CPU per request). The conversations are created
through ``POST /v1/assistant/conversations`` with a channel API key before the window; the
campaign is started and sending before it too.

Reported (JSON on stdout): reply latency p50/p95/p99 (send → reply, and from the intended send
time), messages sent / answered / stored with their reply, errors, handoffs, the campaign's
sends per second at the sink during the window, the server's in-process request time (its
Prometheus histogram), the CPU used by the api, the e-mail workers, PostgreSQL's backends of
this database, the generator and everything else (in CPUs, and per request, e-mail or
message), and what the database's active backends were waiting on (sampled every 0.5 s).
``--fast-messages off`` runs the api with the messages route's fast path off (FastAPI's
documented route only, ``SINCRO_ASSISTANT_FAST_MESSAGES=false``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.assistant_loadgen import LoadGenerator, message_source, verify
from bench.harness import (
    DEFAULT_WORKERS,
    HOST,
    PYTHON,
    ApiServer,
    latency_summary_ms,
    loadavg,
    log,
    machine_info,
    proc_cpu_seconds,
)
from bench.leanhttp import LeanClient
from bench.messaging_common import Run, messaging_run

ROUTE = "/v1/assistant/conversations/{conversation_id}/messages"

WORLD = """
import json
from sincro.assistant import scripted
from sincro.config import get_settings
from sincro.db import database_for
print(json.dumps(scripted.demo_world(database_for(get_settings()), stores={stores},
                 products={products}, customers={customers})))
"""

START = """
from sqlalchemy import select
from sincro.config import get_settings
from sincro.db import database_for
from sincro.messaging import service
from sincro.messaging.models import MessageTemplate as Template
from sincro.messaging.schemas import CampaignIn
from sincro.audit import Actor
settings = get_settings()
db = database_for(settings)
with db.read() as s:
    template = s.scalars(select(Template.id).where(Template.key == "bench")).one()
with db.write() as s:
    c = service.create_campaign(s, CampaignIn(name="bench", template_id=template),
                                Actor.cli("bench"), settings)
with db.write() as s:
    service.transition(s, c.id, "start", Actor.cli("bench"))
print(c.id)
"""


def pg_backends(database_url: str) -> list[int]:
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        rows = c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return [int(r[0]) for r in rows]


def route_histogram(base_url: str) -> dict[str, float]:
    """Cumulative buckets (le → count) of the messages route, 200s, summed over processes."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    out: dict[str, float] = collections.defaultdict(float)
    for line in text.splitlines():
        if (
            line.startswith("sincro_http_request_duration_seconds_bucket")
            and f'route="{ROUTE}"' in line
            and 'status="200"' in line
        ):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] += float(line.rsplit(" ", 1)[1])
    return dict(out)


def histogram_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    total = after.get("+Inf", 0) - before.get("+Inf", 0)
    if not total:
        return {}
    shares = {}
    for le in ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5"):
        shares[f"<= {float(le) * 1000:.0f} ms"] = round(
            (after.get(le, 0) - before.get(le, 0)) / total, 4
        )
    return {"requests": int(total), "share_within": shares}


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = start = 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Cpu:
    """CPU seconds of a group of processes between two readings (pids found at each)."""

    def __init__(self, finder: Any) -> None:
        self.finder = finder
        self.start: dict[int, float] = {}

    def begin(self) -> None:
        self.start = {p: proc_cpu_seconds([p]) for p in self.finder()}

    def end(self) -> float:
        return sum(proc_cpu_seconds([p]) - self.start.get(p, 0.0) for p in self.finder())


def machine_busy() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def start_profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [str(PYTHON.parent / "py-spy"), "record", "--pid", str(pid), "--duration",
             str(seconds), "--rate", "100", "--format", "raw", "--output", str(out),
             "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        log(f"no profile: {exc}")
        return None


def profile_errors(profiler: subprocess.Popen[bytes] | None) -> str:
    if profiler is None or profiler.stderr is None:
        return ""
    return profiler.stderr.read().decode(errors="replace")[-500:]


def summarise_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Inclusive share of the samples per frame (function + file), from py-spy's raw output."""
    if not path.exists():
        return {}
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [f.split(":")[0].strip() for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        leaf[frames[-1]] += count
    if not total:
        return {}

    def share(counter: collections.Counter[str]) -> list[str]:
        return [f"{n / total:6.1%}  {frame}" for frame, n in counter.most_common(top)]

    return {"samples": total, "inclusive": share(inclusive), "self": share(leaf)}


async def drive(
    server: ApiServer, key: str, values: dict[str, str], args: argparse.Namespace, window: Any
) -> tuple[Any, float, float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    client: Any
    if args.client == "httpx":
        limits = httpx.Limits(max_connections=args.pool, max_keepalive_connections=args.pool)
        client = httpx.AsyncClient(
            base_url=server.base_url,
            headers=headers,
            limits=limits,
            timeout=httpx.Timeout(60.0, pool=60.0),
        )
    else:
        client = LeanClient(server.base_url, headers=headers, max_connections=args.pool)
    async with client:
        generator = LoadGenerator(
            client,
            message_source(values),
            conversations=args.conversations,
            interval=args.interval,
            duration=args.duration,
        )
        started = time.perf_counter()
        ids = await generator.create_all()
        log(f"{len(ids)} conversations created in {time.perf_counter() - started:.1f}s")
        marks = window.begin()
        cpu0 = time.process_time()
        await generator.run(ids)
        generator_cpu = time.process_time() - cpu0
        wall = time.perf_counter() - marks["t0"]
        return generator, generator_cpu, wall, window.end()


class PgWaits:
    """What the bench database's active backends are doing, sampled every ``every`` seconds
    in a thread during the window: counts of ``wait_event_type:wait_event`` (``cpu`` when an
    active backend waits on nothing, i.e. runs or waits for a CPU)."""

    def __init__(self, database_url: str, every: float = 0.5) -> None:
        self.name = database_url.rsplit("/", 1)[1]
        self.admin = (database_url.rsplit("/", 1)[0] + "/postgres").replace(
            "postgresql+psycopg", "postgresql"
        )
        self.every = every
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(10)
        per_sample = {k: round(v / max(1, self.samples), 2) for k, v in self.counts.most_common(12)}
        return {"samples": self.samples, "active_backends_per_sample": per_sample}

    def _run(self) -> None:
        sql = (
            "SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') FROM pg_stat_activity"
            " WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.wait(self.every):
                self.counts.update(r[0] for r in conn.execute(sql, (self.name,)))
                self.samples += 1


class Window:
    """Readings at the start and the end of the measured window."""

    def __init__(self, run: Run, server: ApiServer, profile: int) -> None:
        self.run, self.server, self.profile_seconds = run, server, profile
        self.groups = {
            "api": Cpu(server.pids),
            "mail_workers": Cpu(lambda: [w.pid for w in run.workers]),
            "postgresql_backends": Cpu(lambda: pg_backends(run.database_url)),
        }
        self.profiler: subprocess.Popen[bytes] | None = None
        self.pg_waits = PgWaits(run.database_url)
        self.profile_out = run.workdir / "profile.txt"

    def begin(self) -> dict[str, float]:
        self.hist0 = route_histogram(self.server.base_url)
        for group in self.groups.values():
            group.begin()
        self.machine0 = machine_busy()
        self.wall0 = time.time()
        self.t0 = time.perf_counter()
        self.load0 = loadavg()
        self.pg_waits.start()
        if self.profile_seconds:
            workers = [p for p in self.server.pids() if p != self.server.proc.pid]  # type: ignore[union-attr]
            self.profiler = start_profile(workers[0], self.profile_seconds, self.profile_out)
        return {"t0": self.t0}

    def end(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        waits = self.pg_waits.stop()
        cpu = {name: group.end() for name, group in self.groups.items()}
        machine = machine_busy() - self.machine0
        hist = histogram_delta(self.hist0, route_histogram(self.server.base_url))
        return {
            "wall_seconds": round(wall, 1),
            "window_unix": [self.wall0, time.time()],
            "cpus_used": {name: round(seconds / wall, 2) for name, seconds in cpu.items()}
            | {"machine_busy": round(machine / wall, 2)},
            "cpu_seconds": cpu | {"machine": machine},
            "server_request_time": hist,
            "postgresql_waits": waits,
            "loadavg_start": self.load0,
            "loadavg_end": loadavg(),
        }


def report(
    args: argparse.Namespace,
    generator: LoadGenerator,
    generator_cpu: float,
    window: dict[str, Any],
    verdict: Any,
    sink: list[float],
    campaign_before: int,
    profile: dict[str, Any],
) -> dict[str, Any]:
    tally = generator.tally
    wall = window["wall_seconds"]
    lo, hi = window["window_unix"]
    in_window = [t for t in sink if lo <= t <= hi]
    reply = latency_summary_ms([m.seconds for m in tally.sent])
    cpus = window["cpus_used"]
    cpus["generator"] = round(generator_cpu / wall, 2)
    cpus["other"] = round(
        max(0.0, cpus["machine_busy"] - sum(v for k, v in cpus.items() if k != "machine_busy")), 2
    )
    seconds = window["cpu_seconds"]
    requests = tally.attempts + tally.restarts  # messages, and creations after a handoff
    per_unit = {
        "api_per_request": _ms(seconds["api"], requests),
        "generator_per_request": _ms(generator_cpu, requests),
        "mail_workers_per_email": _ms(seconds["mail_workers"], len(in_window)),
        # every backend of the bench database: the campaign's statements too
        "postgresql_all_backends_per_message": _ms(seconds["postgresql_backends"], len(tally.sent)),
    }
    return {
        "client": f"{args.client} on {args.loop}",
        "fast_messages": args.fast_messages,
        "conversations": args.conversations,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "messages_planned": args.conversations * generator.per_conversation,
        "messages_sent": tally.attempts,
        "replies_received": len(tally.sent),
        "replies_non_empty": sum(1 for m in tally.sent if m.reply),
        "customer_messages_stored": verdict.customer_rows,
        "lost": {
            "acknowledged_not_stored": verdict.missing_customer,
            "reply_not_stored": verdict.missing_reply,
            "stored_without_ack": verdict.unanswered_stored,
        },
        "errors": tally.errors,
        "handoffs": tally.handoffs,
        "restarted_conversations": tally.restarts,
        "achieved_messages_per_s": round(len(tally.sent) / wall, 1),
        "reply_latency": reply,
        "from_intended_send": latency_summary_ms([m.from_schedule for m in tally.sent]),
        "sent_late": {
            "count": sum(1 for m in tally.sent if m.late > 0.05),
            "max_s": round(max((m.late for m in tally.sent), default=0.0), 2),
        },
        "conversation_create": latency_summary_ms(tally.created),
        "target_p99_ms": 300,
        "p99_met": reply.get("p99_ms", 1e9) < 300,
        "campaign": {
            "rate_setting": args.campaign_rate,
            "sent_before_window": campaign_before,
            "sent_in_window": len(in_window),
            "per_second_in_window": round(len(in_window) / (hi - lo), 1),
            "busiest_second_in_window": busiest_second(in_window) if in_window else 0,
        },
        "window": {k: v for k, v in window.items() if k not in ("window_unix",)},
        "cpu_ms_per_unit": per_unit,
        "profile": profile,
    }


def _ms(cpu_seconds: float, units: int) -> float | None:
    return round(cpu_seconds * 1000 / units, 2) if units else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between messages")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--campaign-rate", type=float, default=100.0, help="e-mails per second")
    parser.add_argument("--mail-workers", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--pool", type=int, default=100, help="generator's max connections")
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds on one worker")
    parser.add_argument(
        "--fast-messages",
        choices=("on", "off"),
        default="on",
        help="the messages route's fast path (off: FastAPI's documented route only)",
    )
    parser.add_argument(
        "--client", choices=("lean", "httpx"), default="lean", help="the generator's client"
    )
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the generator's loop"
    )
    parser.add_argument("--quick", action="store_true", help="100 conversations x 20 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.conversations, args.duration = 100, 20.0
    # enough recipients to keep the campaign sending through creation, warm-up and the window
    recipients = max(200, int(args.campaign_rate * (args.duration + 90)))
    info = machine_info()
    info["loadavg_before"] = loadavg()
    log(f"load average {info['loadavg_before']}; {recipients} campaign recipients")
    values: dict[str, str] = {}

    def prepare(run: Run) -> None:
        started = time.perf_counter()
        out = run.python(
            WORLD.format(stores=args.stores, products=args.products, customers=args.customers)
        )
        values.update(json.loads(out.splitlines()[-1]))
        log(f"demo world loaded in {time.perf_counter() - started:.1f}s")

    with messaging_run(recipients, 0.0, args.campaign_rate, prepare=prepare) as run:
        server = ApiServer(run.database_url, workers=args.api_workers, var_dir=run.workdir / "api")
        server.env = run.env() | {
            "SINCRO_API_WORKERS": str(args.api_workers),
            "SINCRO_PORT": str(server.port),
            "SINCRO_HOST": HOST,
            "SINCRO_VAR_DIR": str(server.var_dir),
        }
        if args.fast_messages == "off":
            server.env["SINCRO_ASSISTANT_FAST_MESSAGES"] = "false"
        for i in range(args.mail_workers):
            run.start_worker(f"w{i}")
        with server:
            key = server.create_key(role="channel")
            warm_up(server, key)
            campaign = int(run.python(START))
            log(f"campaign {campaign} started")
            wait_sending(run)
            window = Window(run, server, args.profile)
            with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
                generator, generator_cpu, _, measured = runner.run(
                    drive(server, key, values, args, window)
                )
            if window.profiler is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    window.profiler.wait(args.profile + 30)
            profile = summarise_profile(window.profile_out)
            if window.profiler is not None and not profile:
                profile = {"error": profile_errors(window.profiler)}
            sink = [t for t, _, _ in run.sink_lines()]
            before = sum(1 for t in sink if t < measured["window_unix"][0])
            verdict = verify(generator.tally, stored_messages(run, generator.tally))
            result = report(
                args, generator, generator_cpu, measured, verdict, sink, before, profile
            )
            result["machine"] = info
            # printed before the teardown: a broker slow to delete its vhost loses nothing
            print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def warm_up(server: ApiServer, key: str) -> None:
    """Every api process has trained its model (it trains at start, in a thread) and opened
    its connections: parse requests until 20 in a row answer within 200 ms."""
    headers = {"Authorization": f"Bearer {key}"}
    streak, deadline = 0, time.monotonic() + 300
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        while streak < 20 and time.monotonic() < deadline:
            started = time.perf_counter()
            r = client.post("/v1/assistant/parse", json={"text": "tem galaxy a05 em campinas?"})
            r.raise_for_status()
            streak = streak + 1 if time.perf_counter() - started < 0.2 else 0
    log("api warm")


def wait_sending(run: Run, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(run.sink_lines()) >= 20:
            log("campaign sending")
            return
        time.sleep(0.5)
    log("warning: the campaign has not reached the sink; measuring anyway")


def stored_messages(run: Run, tally: Any) -> list[tuple[Any, ...]]:
    ids = sorted(tally.conversation_ids)
    url = run.database_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT conversation_id, seq, sender, text FROM assistant_messages"
            " WHERE conversation_id = ANY(%s)",
            (ids,),
        ).fetchall()


if __name__ == "__main__":
    main(sys.argv[1:])
