"""Benchmark harness: a fresh database with the demo operator, a Sincro api in a subprocess,
API keys, and observations of the machine (load average, who uses the CPU, CPU seconds spent
by the server and by the load generator).

Everything targets 127.0.0.1. A PostgreSQL database ``sincro_bench_<hex>`` is created for the
run and dropped at the end; a SQLite database lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():  # pragma: no cover - another layout
    PYTHON = Path(sys.executable)
SINCRO = PYTHON.parent / "sincro"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
HOST = "127.0.0.1"
DEFAULT_WORKERS = 2
BUSY_LOADAVG = 1.5
HIGH_RATE_LIMIT = 100_000_000


def log(message: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The machine


def _run_text(cmd: list[str], **kwargs: Any) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kwargs)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip()


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    dirty = _run_text(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": " ".join(platform.uname()[0:3:2]),
        "python": platform.python_version(),
        "postgresql": _run_text(["psql", PG_ADMIN_URL, "-tAc", "SHOW server_version"]),
        "git_commit": _run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "git_modified_tracked_files": len(dirty.splitlines()) if dirty else 0,
        "hey": shutil.which("hey"),
        "wrk": _run_text(["wrk", "-v"]).splitlines()[0] if shutil.which("wrk") else None,
        "load_generator_shares_machine": True,
    }


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _cpu_total() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def _proc_ticks() -> dict[int, tuple[int, str]]:
    out: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])
            cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            out[int(entry.name)] = (ticks, cmd.strip()[:100] or stat.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def sample_machine(seconds: float = 2.0, ours: set[int] | frozenset[int] = frozenset()) -> dict:
    """CPU use of the whole machine over ``seconds``, and the processes that used it most.
    ``ours`` are the benchmark's own processes (the idle server): their use is not 'other'."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, total0 = _cpu_total()
    procs0 = _proc_ticks()
    time.sleep(seconds)
    busy1, total1 = _cpu_total()
    procs1 = _proc_ticks()
    used = []
    for pid, (ticks, cmd) in procs1.items():
        before = procs0.get(pid, (ticks, cmd))[0]
        if ticks > before:
            used.append(((ticks - before) / hz / seconds, pid, cmd))
    used.sort(reverse=True)
    me = os.getpid()
    other = sum(share for share, pid, _ in used if pid not in ours and pid != me)
    return {
        "busy_fraction": round((busy1 - busy0) / max(1, total1 - total0), 3),
        "other_cpus_busy": round(other, 2),
        "top": [f"{share * 100:.0f}% pid {pid} {cmd}" for share, pid, cmd in used[:5]],
    }


def preflight(label: str, ours: set[int], settle_seconds: float) -> dict[str, Any]:
    """Before a measurement: wait (up to ``settle_seconds``) for the previous one's tail to
    fade, then record the load average and who is using the CPU."""
    waited = 0.0
    while True:
        sample = sample_machine(2.0, ours)
        if sample["other_cpus_busy"] < 0.25 or waited >= settle_seconds:
            break
        waited += 2.0
    load = loadavg()
    note = {
        "measurement": label,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg": load,
        "machine_busy_fraction": sample["busy_fraction"],
        "other_processes_cpus": sample["other_cpus_busy"],
        "top_processes": sample["top"],
        "loaded": load[0] > BUSY_LOADAVG or sample["other_cpus_busy"] >= 0.25,
    }
    if note["loaded"]:
        log(
            f"warning: machine loaded before {label}: load average {load[0]:.2f}, other"
            f" processes using {sample['other_cpus_busy']:.2f} CPUs"
        )
    return note


def proc_cpu_seconds(pids: list[int]) -> float:
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / hz


def children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children (hey, wrk) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds spent by the server and by the load generator during one measurement."""

    def __init__(self, server: ApiServer, generator: str = "children") -> None:
        self.server, self.generator = server, generator

    def _gen(self) -> float:
        return children_cpu_seconds() if self.generator == "children" else self_cpu_seconds()

    def __enter__(self) -> CpuMeter:
        self.pids = self.server.pids()
        self.server0, self.gen0 = proc_cpu_seconds(self.pids), self._gen()
        self.machine0 = _cpu_total()[0]
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.server_cpu = proc_cpu_seconds(self.pids) - self.server0
        self.gen_cpu = self._gen() - self.gen0
        self.machine_cpu = (_cpu_total()[0] - self.machine0) / os.sysconf("SC_CLK_TCK")

    def result(self) -> dict[str, float]:
        cores = os.cpu_count() or 1
        return {
            "wall_seconds": round(self.wall, 2),
            "server_cpu_seconds": round(self.server_cpu, 2),
            "server_cpus_used": round(self.server_cpu / self.wall, 2),
            "generator_cpu_seconds": round(self.gen_cpu, 2),
            "generator_cpus_used": round(self.gen_cpu / self.wall, 2),
            "machine_cpus_busy": round(self.machine_cpu / self.wall, 2),
            # everything else on the machine during the measurement (other engineers' tests,
            # PostgreSQL for the database runs, the kernel's softirq work is in ours)
            "other_cpus_used": round(
                max(0.0, self.machine_cpu - self.server_cpu - self.gen_cpu) / self.wall, 2
            ),
            "machine_cpus": cores,
        }


# --------------------------------------------------------------------------------------------
# Databases


@dataclass
class BenchDatabase:
    kind: str  # sqlite | postgresql
    url: str
    workdir: Path
    name: str
    demo: dict[str, Any] = field(default_factory=dict)


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _pg_url(name: str) -> str:
    base, _ = PG_ADMIN_URL.rsplit("/", 1)
    return f"{base}/{name}"


def cli_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for ``sincro`` subprocesses: only our SINCRO_* settings, but for the
    api's event loop (``SINCRO_API_LOOP``), which the bare ASGI floor follows too
    (:func:`bench.baselines.api_loop`): a run compares both loops by setting it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("SINCRO_") or k == "SINCRO_API_LOOP")
        and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        SINCRO_DATABASE_URL=database_url,
        SINCRO_VAR_DIR=str(var_dir),
        SINCRO_HOST=HOST,
        **extra,
    )
    return env


def _parse_demo_load(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"stages": {}}
    in_stages = False
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "seconds":
            out["seconds"] = float(parts[1])
            in_stages = True
        elif line.startswith("  ") and in_stages:
            out["stages"][parts[0]] = float(parts[1])
        else:
            in_stages = False
            if parts[0] in ("locations", "products", "stock_levels", "movements", "backend"):
                out[parts[0]] = (
                    parts[1] if parts[0] == "backend" else int(parts[1].replace(",", ""))
                )
    return out


@contextlib.contextmanager
def fresh_database(
    kind: str, stores: int = 1800, dcs: int = 10, products: int = 1000, keep: bool = False
) -> Iterator[BenchDatabase]:
    """A new, migrated database with the demo operator; removed (dropped) afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"sincro-bench-{kind}-"))
    if kind == "sqlite":
        name = "sincro.sqlite"
        url = f"sqlite:///{workdir / name}"
    elif kind == "postgresql":
        name = f"sincro_bench_{secrets.token_hex(4)}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        url = _pg_url(name)
    else:
        raise ValueError(f"unknown database kind {kind!r}")
    db = BenchDatabase(kind, url, workdir, name)
    try:
        env = cli_env(url, workdir / "var")
        started = time.perf_counter()
        migrated = subprocess.run(
            [str(SINCRO), "migrate"], env=env, cwd=workdir, capture_output=True, text=True
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"sincro migrate failed:\n{migrated.stderr[-3000:]}")
        migrate_seconds = time.perf_counter() - started
        cmd = [
            str(PYTHON),
            str(REPO / "bench" / "demo_load.py"),
            "--database-url",
            url,
            "--stores",
            str(stores),
            "--dcs",
            str(dcs),
            "--products",
            str(products),
        ]
        log(f"{kind}: loading the demo operator ({stores} stores x {products} SKUs)")
        started = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"demo load failed ({out.returncode}):\n{out.stderr[-3000:]}")
        wall = time.perf_counter() - started
        db.demo = {
            **_parse_demo_load(out.stdout),
            "wall_seconds": round(wall, 2),
            "migrate_seconds": round(migrate_seconds, 2),
            "stores": stores,
            "dcs": dcs,
            "products": products,
            "command": "python bench/demo_load.py --database-url "
            + ("sqlite:///<tmp>/sincro.sqlite" if kind == "sqlite" else _pg_url("<fresh db>"))
            + f" --stores {stores} --dcs {dcs} --products {products}",
        }
        log(f"{kind}: demo loaded in {db.demo.get('seconds')} s (process wall {wall:.1f} s)")
        yield db
    finally:
        if not keep:
            if kind == "postgresql":
                with contextlib.suppress(Exception):
                    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(workdir, ignore_errors=True)


def query_rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import create_engine, text

    from sincro.db import postgres_url

    engine = create_engine(postgres_url(database_url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


class RowPoller:
    """One connection kept open for a query polled many times (a storm's progress, every
    50 ms): opening a connection per poll costs the database a new backend, its catalog
    caches and the dialect's first queries each time, which a storm's figures would count as
    the database's work. Each poll reads a fresh snapshot (its transaction is ended)."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        from sincro.db import postgres_url

        self.engine = create_engine(postgres_url(database_url))
        self.conn = self.engine.connect()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        try:
            return [tuple(r) for r in self.conn.execute(text(sql))]
        finally:
            self.conn.rollback()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def list_skus(database_url: str) -> list[str]:
    return [r[0] for r in query_rows(database_url, "SELECT sku FROM products ORDER BY sku")]


def list_stores(database_url: str) -> list[str]:
    return [
        r[0]
        for r in query_rows(
            database_url, "SELECT code FROM locations WHERE kind = 'store' ORDER BY code"
        )
    ]


# --------------------------------------------------------------------------------------------
# The api server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant (from /proc), root first."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                todo.extend(int(c) for c in text.split())
    return found


class ApiServer:
    """``sincro api`` in a subprocess (its own session), with a temporary var dir."""

    def __init__(
        self,
        database_url: str,
        workers: int = DEFAULT_WORKERS,
        var_dir: Path | None = None,
        port: int | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        """``settings``: more ``SINCRO_*`` variables for the server (e.g. Redis, as in
        production)."""
        self.database_url = database_url
        self.workers = workers
        self.port = port or free_port()
        self._own_var = var_dir is None
        self.var_dir = var_dir or Path(tempfile.mkdtemp(prefix="sincro-bench-var-"))
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.env = cli_env(
            database_url,
            self.var_dir,
            SINCRO_API_WORKERS=str(workers),
            SINCRO_PORT=str(self.port),
            **(settings or {}),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://{HOST}:{self.port}"
        self.command = f"sincro api --host {HOST} --port {self.port} --workers {workers}"

    def argv(self) -> list[str]:
        """The command this server runs (a subclass may run ``sincro serve`` or ``demo``)."""
        return [str(SINCRO), "api", "--host", HOST, "--port", str(self.port),
                "--workers", str(self.workers)]  # fmt: skip

    def start(self, timeout: float = 180.0) -> ApiServer:
        logfile = open(self.var_dir / "api.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            self.argv(),
            env=self.env,
            cwd=self.var_dir,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited early; see {self.var_dir / 'api.log'}:\n"
                    + self.log_tail()
                )
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{self.base_url}/ready", timeout=5).status_code == 200
                if ready and (self.workers == 1 or len(self.pids()) >= self.workers + 1):
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.command} not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(
                (self.var_dir / "api.log").read_text(errors="replace").splitlines()[-lines:]
            )
        return ""

    def pids(self) -> list[int]:
        """The uvicorn supervisor and every descendant."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group we started
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._own_var:
            shutil.rmtree(self.var_dir, ignore_errors=True)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a ``sincro`` command against the same database."""
        return subprocess.run(
            [str(SINCRO), *args],
            env=self.env,
            cwd=self.var_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def create_key(self, role: str = "admin", rate_limit: int = HIGH_RATE_LIMIT) -> str:
        out = self.cli("keys", "create", "--role", role, "--rate-limit", str(rate_limit))
        if out.returncode != 0:
            raise RuntimeError(f"sincro keys create failed: {out.stderr or out.stdout}")
        keys = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("sk_")]
        if not keys:
            raise RuntimeError(f"no key in the output of sincro keys create: {out.stdout}")
        return keys[-1]

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Small statistics


def counter_total(base_url: str, name: str) -> float | None:
    """A Prometheus counter's value summed over its samples (every label, every api process)
    from the api's ``/metrics``; None when the api does not expose it or does not answer."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"{base_url}/metrics", timeout=30).text
    except httpx.HTTPError:
        return None
    family = name.removesuffix("_total")
    values = [
        sample.value
        for metric in text_string_to_metric_families(text)
        if metric.name == family
        for sample in metric.samples
        if sample.name == name
    ]
    return sum(values) if values else None


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Print a benchmark's result as JSON, and write it to ``out`` too when given (``--out``)."""
    text = json.dumps(result, indent=2, default=str)
    if out:
        out.write_text(text)
    print(text)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary_ms(values_seconds: list[float]) -> dict[str, float]:
    values = sorted(values_seconds)
    if not values:
        return {"count": 0}
    ms = 1000.0
    return {
        "count": len(values),
        "mean_ms": round(sum(values) / len(values) * ms, 3),
        "p50_ms": round(percentile(values, 50) * ms, 3),
        "p95_ms": round(percentile(values, 95) * ms, 3),
        "p99_ms": round(percentile(values, 99) * ms, 3),
        "max_ms": round(values[-1] * ms, 3),
        "min_ms": round(values[0] * ms, 3),
    }


class AsgiClient:
    """Calls an ASGI application as uvicorn would (one request per call, no sockets). A
    ``?query`` in the path goes to the scope's ``query_string``, as uvicorn splits it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        status, _, content = await self.exchange(method, path, headers, body)
        return status, content

    async def exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw response headers (as sent, in order) and body."""
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw += [(b"host", b"bench"), (b"content-length", str(len(body)).encode())]
        path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": raw,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # a client that stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers.extend(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, response_headers, b"".join(chunks)


def add_redis_argument(parser: argparse.ArgumentParser) -> None:
    """``--redis-url``: the api on this Redis, as production runs (:func:`redis_settings`)."""
    parser.add_argument(
        "--redis-url",
        default="",
        help="shared state (rate limits, snapshots) in this Redis, as production runs; keys "
        "under a prefix of the run's own, deleted at the end",
    )


@contextlib.contextmanager
def redis_settings(url: str) -> Iterator[dict[str, str]]:
    """The api's settings for Redis at ``url`` under a key prefix of this run's own, whose keys
    are deleted when the run ends; no settings (the embedded default) for an empty url."""
    if not url:
        yield {}
        return
    prefix = f"sincro-bench-{secrets.token_hex(4)}:"
    try:
        yield {"SINCRO_REDIS_URL": url, "SINCRO_REDIS_PREFIX": prefix}
    finally:
        import redis

        client = redis.Redis.from_url(url)
        for name in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(name)
