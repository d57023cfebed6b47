"""The production shape on one machine: real processes (``sincro api`` ×2 behind nginx, two
workers, beat, relay) on a fresh PostgreSQL database, a fresh RabbitMQ vhost and a Redis key
prefix of their own. What ``deploy/`` runs, started as the test's children."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.services import AMQP_URL, REDIS_URL, absent, create_pg_database, drop_pg_database, unique

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX_TEMPLATE = DEPLOY / "nginx" / "sincro.conf.template"
SECRET = "fleet-test-secret-" + "x" * 32
_PLACEHOLDER = re.compile(r"\$\{(SINCRO_[A-Z0-9_]+)\}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_template(text: str, values: Mapping[str, str]) -> str:
    """``envsubst`` as the nginx image runs it: only the named ``${SINCRO_*}`` are replaced."""
    missing = set(_PLACEHOLDER.findall(text)) - set(values)
    if missing:
        raise KeyError(f"no value for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def nginx_main_config(site: Path, work: Path) -> str:
    """The smallest main ``nginx.conf`` around the site file, with every path in ``work``."""
    temps = "\n".join(
        f"    {kind}_temp_path {work / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"worker_processes 1;\npid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log off;\n{temps}\n    include {site};\n}}\n"
    )


@dataclass
class Service:
    """One child process in its own process group (so kill -9 takes its pool children too)."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def send(self, sig: int) -> bool:
        """Send ``sig`` to the process group; False when it is gone already."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def reap(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for the process to end, then SIGKILL its group."""
        if self.proc is None:
            return
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self, sig: int = signal.SIGKILL, wait: float = 10.0) -> None:
        if self.send(sig):
            self.reap(wait)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        tail = (line[:300] for line in text.splitlines()[-lines:])
        return f"--- {self.name} ---\n" + "\n".join(tail)


@dataclass
class Fleet:
    """URLs, settings and processes of one run."""

    work: Path
    env: dict[str, str]
    database_url: str
    api_ports: tuple[int, int]
    proxy_port: int
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def api_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.api_ports[index]}"

    def sincro(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sincro.cli", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A ``sincro`` command with the fleet's settings, to completion."""
        return subprocess.run(
            self.sincro(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def add(self, name: str, argv: list[str]) -> Service:
        service = Service(name, argv, self.work / f"{name}.log")
        self.services[name] = service
        return service

    def logs(self) -> str:
        return "\n".join(s.tail() for s in self.services.values())


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        absent("nginx", "not installed (scripts/system-deps.sh installs Debian's nginx)")
    assert found is not None
    return found


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh vhost (the workers' queues and the events exchange are the fleet's alone)."""
    ctl = os.environ.get("SINCRO_TEST_RABBITMQCTL") or shutil.which("rabbitmqctl")
    if ctl is None:
        absent("RabbitMQ", "rabbitmqctl is needed to create a vhost of the test's own")
    assert ctl is not None
    vhost = unique("sincro_fleet")
    user = urlsplit(AMQP_URL).username or "guest"
    for args in (["add_vhost", vhost], ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]):
        done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            absent("RabbitMQ", f"rabbitmqctl {args[0]}: {done.stderr.strip()[:200]}")
    try:
        parts = urlsplit(AMQP_URL)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


@contextmanager
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = unique("sincro_fleet") + ":"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        absent("Redis", str(exc))
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url, at_end=True)


def fleet_env(work: Path, database_url: str, broker_url: str, prefix: str) -> dict[str, str]:
    """The production settings every process of the fleet shares (``deploy/sincro.env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")}
    env.update(
        SINCRO_MODE="production",
        SINCRO_DATABASE_URL=database_url,
        SINCRO_BROKER_URL=broker_url,
        SINCRO_REDIS_URL=REDIS_URL,
        SINCRO_REDIS_PREFIX=prefix,
        SINCRO_EVENTS_EXCHANGE=unique("sincro_fleet_events"),
        SINCRO_SECRET_KEY=SECRET,
        SINCRO_VAR_DIR=str(work / "var"),
        SINCRO_LOG_LEVEL="WARNING",
        SINCRO_EXPIRY_SWEEP_SECONDS="1",
        SINCRO_FEED_GAP_TIMEOUT_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_nginx(fleet: Fleet) -> Service:
    """nginx (not a daemon) in front of both api replicas, from deploy/'s template."""
    nginx_dir = fleet.work / "nginx"
    nginx_dir.mkdir()
    site = nginx_dir / "sincro.conf"
    values = {
        "SINCRO_LISTEN": f"127.0.0.1:{fleet.proxy_port}",
        "SINCRO_API_1": f"127.0.0.1:{fleet.api_ports[0]}",
        "SINCRO_API_2": f"127.0.0.1:{fleet.api_ports[1]}",
    }
    site.write_text(render_template(NGINX_TEMPLATE.read_text(), values))
    main = nginx_dir / "nginx.conf"
    main.write_text(nginx_main_config(site, nginx_dir))
    argv = [
        nginx_binary(),
        "-p",
        str(nginx_dir),
        "-e",
        str(nginx_dir / "error.log"),
        "-c",
        str(main),
    ]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    service = fleet.add("nginx", [*argv, "-g", "daemon off;"])
    service.start(fleet.env)
    return service


def start_processes(fleet: Fleet) -> None:
    """api ×2, worker ×2, beat and relay: the units of deploy/systemd and deploy/compose.yaml."""
    for i, port in enumerate(fleet.api_ports, start=1):
        fleet.add(f"api{i}", fleet.sincro("api", "--host", "127.0.0.1", "--port", str(port)))
    for i in (1, 2):
        fleet.add(
            f"worker{i}", fleet.sincro("worker", "--concurrency", "1", "--name", f"worker{i}@%h")
        )
    fleet.add("beat", fleet.sincro("beat"))
    fleet.add("relay", fleet.sincro("relay"))
    for name, service in fleet.services.items():
        if name != "nginx":
            service.start(fleet.env)


def wait_ready(fleet: Fleet, timeout: float = 90.0) -> None:
    """Both replicas answer /ready through their own port and through the proxy; workers up.

    A bound, not a speed check: seven processes start at once beside the suite's other
    workers, and on a host at a third of its usual speed (2026-12-07) 40 s was not enough for
    the second Celery worker to say it was ready."""
    deadline = time.monotonic() + timeout
    urls = [fleet.api_url(0), fleet.api_url(1), fleet.proxy_url]
    while time.monotonic() < deadline:
        dead = [s.name for s in fleet.services.values() if not s.alive]
        assert not dead, f"{dead} exited during start\n{fleet.logs()}"
        if all(_ready(url) for url in urls) and all(
            "ready." in fleet.services[w].log.read_text(errors="replace")
            for w in ("worker1", "worker2")
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"the fleet did not become ready in {timeout:.0f} s\n{fleet.logs()}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_fleet(work: Path) -> Iterator[Fleet]:
    """Fresh servers' namespaces, a migrated database, then every process; all torn down."""
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        broker_url = stack.enter_context(rabbitmq_vhost())
        prefix = stack.enter_context(redis_prefix())
        (work / "var").mkdir()
        fleet = Fleet(
            work=work,
            env=fleet_env(work, database_url, broker_url, prefix),
            database_url=database_url,
            api_ports=(free_port(), free_port()),
            proxy_port=free_port(),
        )
        migrated = fleet.run("migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        stack.callback(_stop_all, fleet)
        yield fleet


def _stop_all(fleet: Fleet) -> None:
    """SIGTERM to every process at once, then reap them, SIGKILL for any still up 10 s later
    (stopped one after another, their waits added up to half a minute on a busy machine)."""
    services = [s for s in reversed(fleet.services.values()) if s.send(signal.SIGTERM)]
    deadline = time.monotonic() + 10
    for service in services:
        service.reap(max(0.1, deadline - time.monotonic()))
