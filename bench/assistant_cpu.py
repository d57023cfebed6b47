"""CPU per assistant message request, in process: the whole API path against the turn alone.

``bench/assistant_turn.py`` measures a turn's own CPU (the visibility check, the dialogue, its
SQL) with no HTTP around it; ``bench/assistant_load.py`` measures the api processes under load,
where the machine's contention and the api's background work blur the figure. This harness
answers: **how much of the api's CPU per ``POST /v1/assistant/conversations/{id}/messages`` is
the turn, and how much the plumbing around it** (middleware, routing, the key and the rate
limit, validation, the thread hand-off, JSON, the response model), on PostgreSQL.

A fresh database with the load benchmark's world (``scripted.demo_world``); the app built by
:func:`sincro.app.create_app` as ``sincro api`` builds it (metrics in multiprocess mode, as
with 2 workers), its lifespan started, a channel key. Then the same message mix as the load
benchmark (the bot-expected scripts, a new conversation after a handoff), two ways, alternating
in ``--rounds`` rounds (a drifting machine load weighs on both):

* ``api``: ``--concurrency`` tasks on one uvloop loop send the messages through the ASGI app
  (``harness.AsgiClient``: no sockets, so uvicorn's parsing and writes are left out);
* ``turn``: the same messages as ``endpoints.customer_turn`` in ``db.write_retrying``, one after
  the other in the main thread, as ``bench/assistant_turn.py`` runs them.

CPU per message: for the api, the process's (user + system of every thread) less its
background (the CPU it uses idle, measured for ``--idle-seconds`` first, times the phase's
wall time); for the turns, the thread's own. ``--pyspy FILE`` samples the
api phase (``--gil``: where the Python CPU goes; summarised with the load benchmark's
``summarise_profile``).

    python -m bench.assistant_cpu [--messages 2000 --concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import AsgiClient, _pg_admin, _pg_url, log, machine_info

PYSPY = Path(sys.executable).parent / "py-spy"
ROUTE = "/v1/assistant/conversations/{id}/messages"


def _spy(out: Path, seconds: float) -> subprocess.Popen[bytes]:
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(PYSPY), "record", "--pid", str(os.getpid()), "--duration", str(int(seconds) + 1),
         "--rate", "500", "--format", "raw", "--gil", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


class Scripts:
    """Customer ``i``'s endless messages (the load benchmark's source)."""

    def __init__(self, values: dict[str, str]) -> None:
        from bench.assistant_loadgen import message_source

        self.source = message_source(values)

    def of(self, i: int) -> Iterator[str]:
        return iter(self.source(i))


async def _api_phase(
    client: AsgiClient, key: str, scripts: Scripts, n: int, concurrency: int, first: int
) -> tuple[Counter[int], int, float, float]:
    """``n`` messages from ``concurrency`` customers: statuses, conversations started, CPU
    seconds of the process, wall seconds."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    counter = itertools.count()
    statuses: Counter[int] = Counter()
    started = 0

    async def start() -> int:
        nonlocal started
        status, body = await client.request(
            "POST", "/v1/assistant/conversations", headers, b'{"channel":"api"}'
        )
        if status != 201:
            raise RuntimeError(f"conversation not started: {status} {body[:300]!r}")
        started += 1
        return int(json.loads(body)["id"])

    async def customer(c: int) -> None:
        texts = scripts.of(first + c)
        conversation = await start()
        while next(counter) < n:
            body = json.dumps({"text": next(texts)}).encode()
            path = f"/v1/assistant/conversations/{conversation}/messages"
            status, answer = await client.request("POST", path, headers, body)
            statuses[status] += 1
            if status == 200 and json.loads(answer)["state"] != "bot":
                conversation = await start()

    before, wall = os.times(), time.perf_counter()
    await asyncio.gather(*(customer(c) for c in range(concurrency)))
    after = os.times()
    cpu = after.user - before.user + after.system - before.system
    return statuses, started, cpu, time.perf_counter() - wall


def _turn_phase(state: Any, scripts: Scripts, n: int, concurrency: int, first: int) -> float:
    """The same mix as turns in process, one at a time: CPU seconds of this thread in the
    turns (as ``bench/assistant_turn.py`` counts them: the process's background is left out)."""
    from sincro.access.models import Role
    from sincro.access.service import Principal
    from sincro.assistant import conversations, endpoints

    admin = Principal(0, "bench", Role.admin, frozenset(), None)
    customers = []
    for c in range(concurrency):
        with state.db.write() as session:
            customers.append(
                [scripts.of(first + c), conversations.start(session, channel="api")[0].id]
            )
    cpu = 0.0
    for i in range(n):
        entry = customers[i % concurrency]
        text = next(entry[0])

        def work(session: Any, cid: int = entry[1], text: str = text) -> str:
            return endpoints.customer_turn(session, state.settings, cid, text, admin).state

        started = time.thread_time()
        state_after = state.db.write_retrying(work)
        cpu += time.thread_time() - started
        if state_after != "bot":
            with state.db.write() as session:
                entry[1] = conversations.start(session, channel="api")[0].id
    return cpu


async def _measure(app: Any, key: str, values: dict[str, str], args: argparse.Namespace) -> Any:
    client = AsgiClient(app)
    scripts = Scripts(values)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        for thread in threading.enumerate():  # the classifier trains at start
            if thread.name == "sincro-assistant-train":
                await asyncio.to_thread(thread.join)
        await _api_phase(client, key, scripts, args.warm, args.concurrency, 0)  # warm
        spy = None
        if args.pyspy:
            spy = _spy(args.pyspy, args.pyspy_seconds)
            await asyncio.sleep(1.0)
        # the process's background (heartbeat, listeners, pools' pings) per wall second,
        # taken off the api phase's process CPU
        before = os.times()
        await asyncio.sleep(args.idle_seconds)
        after = os.times()
        idle_rate = (after.user - before.user + after.system - before.system) / args.idle_seconds
        # the two phases alternate in rounds, so that a machine whose load drifts weighs on
        # both alike
        state = app.state.sincro
        statuses: Counter[int] = Counter()
        started = 0
        api_cpu = turn_cpu = wall = 0.0
        per_round = max(1, args.messages // args.rounds)
        for r in range(args.rounds):
            got, began, cpu, seconds = await _api_phase(
                client, key, scripts, per_round, args.concurrency, 1000 + 100 * r
            )
            statuses.update(got)
            cpu -= idle_rate * seconds
            started, api_cpu, wall = started + began, api_cpu + cpu, wall + seconds
            turn_cpu += await asyncio.to_thread(
                _turn_phase, state, scripts, per_round, args.concurrency, 1000 + 100 * r
            )
            if r == 0 and spy is not None:
                spy.wait(timeout=120)
                from bench.assistant_load import summarise_profile

                out["profile"] = summarise_profile(args.pyspy, top=40)
        n = per_round * args.rounds
        out["api"] = {
            "messages": n,
            "statuses": dict(statuses),
            "conversations_started": started,
            "cpu_ms_per_message": round(api_cpu / n * 1000, 3),
            "cpu_ms_per_request": round(api_cpu / (n + started) * 1000, 3),
            "wall_seconds": round(wall, 2),
        }
        out["turn"] = {"messages": n, "cpu_ms_per_message": round(turn_cpu / n * 1000, 3)}
        out["idle_cpus"] = round(idle_rate, 4)
        log(f"  api: {out['api']}")
        log(f"  turn: {out['turn']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4, help="api and turn phases alternate")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--pyspy", type=Path, help="py-spy the api phase into this file")
    parser.add_argument("--pyspy-seconds", type=float, default=10.0)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="sincro-assistant-cpu-"))
    (var / "prometheus").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var / "prometheus")
    name = f"sincro_bench_acpu_{secrets.token_hex(4)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = _pg_url(name)
        os.environ.update(SINCRO_DATABASE_URL=url, SINCRO_VAR_DIR=str(var))
        import uvloop

        from sincro.access import service as access
        from sincro.access.models import Role
        from sincro.app import create_app
        from sincro.assistant import scripted
        from sincro.db import Database, reset_databases
        from sincro.migrate import upgrade

        upgrade(url)
        seed = Database(url)
        values = scripted.demo_world(seed, stores=300, products=300, customers=300)
        seed.dispose()
        app = create_app()
        with app.state.sincro.db.write() as session:
            _, key = access.create_key(session, "bench", Role.channel, (), 100_000_000)
        log(f"{args.messages} messages, {args.concurrency} customers at a time")
        try:
            result = uvloop.run(_measure(app, key, values, args))
        finally:
            reset_databases()
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    api, turn = result["api"]["cpu_ms_per_message"], result["turn"]["cpu_ms_per_message"]
    result.update(
        plumbing_ms_per_message=round(api - turn, 3),
        commit=machine_info()["git_commit"],
        loadavg_after=os.getloadavg(),
        command=" ".join(["python -m bench.assistant_cpu", *sys.argv[1:]]),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
