"""Shared plumbing of the messaging benchmarks: a PostgreSQL database with N consenting
customers, a RabbitMQ virtual host and a Redis prefix of the run's own, the SMTP sink process,
Celery e-mail workers (``sincro worker``-equivalent ``celery … -Q messaging,email``), a
campaign started through the service, and the sink's log read back.

Environment (defaults: the local servers): BENCH_PG_ADMIN_URL, BENCH_AMQP_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.harness import PYTHON, REPO, _pg_admin, _pg_url, free_port, log

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Run:
    database_url: str
    broker_url: str
    redis_prefix: str
    workdir: Path
    sink_port: int
    sink_log: Path
    rate: float
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")}
        return (
            base
            | {
                "PYTHONPATH": f"{REPO / 'src'}:{REPO}",
                "SINCRO_MODE": "production",
                "SINCRO_DATABASE_URL": self.database_url,
                "SINCRO_BROKER_URL": self.broker_url,
                "SINCRO_REDIS_URL": REDIS_URL,
                "SINCRO_REDIS_PREFIX": self.redis_prefix,
                "SINCRO_VAR_DIR": str(self.workdir),
                "SINCRO_SECRET_KEY": "b" * 48,
                "SINCRO_LOG_JSON": "false",
                "SINCRO_LOG_LEVEL": "WARNING",
                "SINCRO_SMTP_URL": f"smtp://127.0.0.1:{self.sink_port}?max_per_connection=100000",
                "SINCRO_MESSAGING_RATE_PER_SECOND": str(self.rate),
                "SINCRO_MESSAGING_QUIET_START": "0",
                "SINCRO_MESSAGING_QUIET_END": "0",
                "SINCRO_MESSAGING_LEASE_SECONDS": "10",
            }
            | self.extra_env
            # BENCH_SINCRO_X=v sets SINCRO_X=v in every process of the run (e.g. a setting's
            # effect: BENCH_SINCRO_WORKER_NICE=0)
            | {k[6:]: v for k, v in os.environ.items() if k.startswith("BENCH_SINCRO_")}
        )

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [
                str(PYTHON),
                "-m",
                "celery",
                "-A",
                "sincro.worker:celery_app",
                "worker",
                "--pool",
                "solo",
                "-Q",
                "messaging,email",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ],
            env=self.env(),
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / f"{name}.log", "wb"),  # noqa: SIM115
        )
        self.workers.append(worker)
        return worker

    def python(self, code: str) -> str:
        out = subprocess.run(
            [str(PYTHON), "-c", code], env=self.env(), capture_output=True, text=True, timeout=600
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        return out.stdout.strip()

    def sink_lines(self) -> list[tuple[float, str, str]]:
        rows = []
        for line in self.sink_log.read_text().splitlines():
            stamp, to, mid = line.split("\t")
            rows.append((float(stamp), to, mid))
        return rows


CTL_TIMEOUT = 300  # rabbitmqctl boots an Erlang VM per call: over a minute at load 20


def _vhost(ctl: str | None) -> Iterator[str]:
    if ctl is None:
        yield AMQP_URL
        return
    vhost = f"sincro-bench-{secrets.token_hex(4)}"
    try:
        subprocess.run(
            [ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=CTL_TIMEOUT
        )
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True, capture_output=True, timeout=CTL_TIMEOUT,
        )  # fmt: skip
        parts = urlsplit(AMQP_URL)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=CTL_TIMEOUT)


@contextlib.contextmanager
def messaging_run(
    recipients: int, latency: float, rate: float, prepare: Callable[[Run], None] | None = None
) -> Iterator[Run]:
    """Database with ``recipients`` consenting customers, vhost, sink; all removed at the end.
    ``prepare(run)`` runs on the migrated, empty database before the customers are added (e.g.
    the demo operator, whose loader needs an empty database)."""
    workdir = Path(tempfile.mkdtemp(prefix="sincro-bench-mail-"))
    name = f"sincro_bench_{secrets.token_hex(4)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    sink_log = workdir / "sink.log"
    sink_log.touch()
    port = free_port()
    sink = subprocess.Popen(
        [str(PYTHON), "-m", "bench.messaging_sink", "--port", str(port), "--latency",
         str(latency), "--log", str(sink_log)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"},
    )  # fmt: skip
    vhosts = _vhost(shutil.which("rabbitmqctl"))
    try:
        broker = next(vhosts)
    except BaseException:  # nothing of the run may outlive it
        sink.terminate()
        sink.wait(10)
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    run = Run(url, broker, f"sincro-bench-{secrets.token_hex(4)}:", workdir, port, sink_log, rate)
    # enough batches for every worker to have work (200 ids a batch at full scale)
    run.extra_env["SINCRO_MESSAGING_BATCH_SIZE"] = str(max(10, min(200, recipients // 40)))
    try:
        started = time.monotonic()
        run.python(
            "from sincro.migrate import upgrade; from sincro.config import get_settings;"
            "upgrade(get_settings().database_url)"
        )
        if prepare is not None:
            prepare(run)
        run.python(LOAD.format(n=recipients))
        log(f"database ready with {recipients} customers in {time.monotonic() - started:.1f}s")
        yield run
    finally:
        for worker in run.workers:
            if worker.poll() is None:  # cold shutdown: the campaign is over, nothing to finish
                worker.send_signal(signal.SIGQUIT)
        for worker in run.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(10)
            if worker.poll() is None:
                worker.kill()
        sink.terminate()
        sink.wait(10)
        with contextlib.suppress(StopIteration, subprocess.TimeoutExpired):
            next(vhosts)
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


LOAD = """
from sincro.config import get_settings
from sincro.db import database_for
from sincro.customers import service as customers
from sincro.customers.models import Customer
from sqlalchemy import select
db = database_for(get_settings())
n = {n}
for start in range(0, n, 5000):
    rows = [
        (f"C{{i}}", {{"code": f"C{{i}}", "name": f"Cliente {{i}}",
                     "email": f"c{{i}}@bench.example",
                     "state": "SP", "city": "Campinas", "plan": "Controle"}})
        for i in range(start, min(n, start + 5000))
    ]
    with db.write() as s:
        customers.upsert_customers(s, "bench", rows)
with db.read() as s:
    ids = list(s.scalars(select(Customer.id)))
for start in range(0, len(ids), 20000):
    with db.write() as s:
        customers.record_consents(s, ids[start:start + 20000], channel="email", purpose="marketing",
                                  granted=True, source="bench", evidence="bench")
from sincro.messaging import service
from sincro.messaging.schemas import TemplateIn
from sincro.audit import Actor
with db.write() as s:
    service.create_template(s, TemplateIn(key="bench", name="Bench", purpose="marketing",
        subject="{{{{ customer.first_name }}}}, oferta em {{{{ customer.city }}}}",
        html="<p>Olá {{{{ customer.name }}}}</p><a href='{{{{ unsubscribe_url }}}}'>sair</a>",
        text="Olá {{{{ customer.name }}}}"), Actor.cli("bench"))
"""

START = """
from sincro.config import get_settings
from sincro.db import database_for
from sincro.messaging import service
from sincro.messaging.schemas import CampaignIn
from sincro.audit import Actor
settings = get_settings()
db = database_for(settings)
with db.write() as s:
    body = CampaignIn(name="bench", template_id=1)
    c = service.create_campaign(s, body, Actor.cli("bench"), settings)
with db.write() as s:
    service.transition(s, c.id, "start", Actor.cli("bench"))
print(c.id)
"""

COUNTS = """
from sincro.config import get_settings
from sincro.db import database_for
from sincro.messaging import service
db = database_for(get_settings())
with db.read() as s:
    print(service.counts(s, {campaign}).model_dump_json())
"""


def counts_reader(run: Run) -> Any:
    """A function returning a campaign's counts, reading the database directly (fast)."""
    import psycopg

    conn = psycopg.connect(
        run.database_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    )

    def read(campaign: int) -> dict[str, int]:
        rows = conn.execute(
            "SELECT status, count(*) FROM send_ledger WHERE campaign_id = %s GROUP BY status",
            (campaign,),
        ).fetchall()
        out = {status: int(n) for status, n in rows}
        out["in_doubt"] = int(
            conn.execute(
                "SELECT count(*) FROM send_ledger WHERE campaign_id = %s AND in_doubt", (campaign,)
            ).fetchone()[0]
        )
        return out

    return read


def unfinished_reader(run: Run) -> Callable[[int, int], bool]:
    """A function telling whether a campaign of ``total`` rows may still have rows to send:
    its audience not all in the ledger yet, or a row pending or being sent."""
    import psycopg

    conn = psycopg.connect(
        run.database_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    )

    def unfinished(campaign: int, total: int) -> bool:
        row = conn.execute(
            "SELECT c.materialized, c.audience_total, (SELECT count(*) FROM send_ledger l"
            " WHERE l.campaign_id = c.id AND l.status IN ('pending', 'sending'))"
            " FROM campaigns c WHERE c.id = %s",
            (campaign,),
        ).fetchone()
        return row is None or not row[0] or int(row[1]) < total or int(row[2]) > 0

    return unfinished


def wait_done(run: Run, campaign: int, total: int, timeout: float, tick_every: float = 0) -> float:
    """Seconds until every row of the campaign is sent (or failed); runs the tick (reaper,
    retries) every ``tick_every`` seconds when given."""
    read = counts_reader(run)
    unfinished = unfinished_reader(run)
    started = time.monotonic()
    last_tick = started
    while True:
        # every 0.2 s only the rows still to send (an index range that shrinks as the campaign
        # goes); the full counts, which read every row of the campaign, once it looks done
        if unfinished(campaign, total):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"campaign not finished after {timeout}s: {read(campaign)}")
        else:
            counts = read(campaign)
            done = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("suppressed", 0)
            if done >= total and not counts.get("pending") and not counts.get("sending"):
                return time.monotonic() - started
        if tick_every and time.monotonic() - last_tick > tick_every:
            run.python(TICK)
            last_tick = time.monotonic()
        time.sleep(0.2)


TICK = """
from sincro.config import get_settings
from sincro.db import database_for
from sincro.messaging import orchestrator
s = get_settings()
orchestrator.tick(database_for(s), s)
"""


def sequential(run: Run, recipients: int) -> float:
    """The sequential sender on the same data: one process renders and sends every message over
    one SMTP connection, nothing else (no ledger, no queue, no rate limit). Its messages are
    the workers' byte for byte (``compose.row_message``: the same wire-form builder, Message-ID
    and signed unsubscribe link), so the comparison is the sending machinery alone. Seconds
    taken."""
    code = """
import time
from types import SimpleNamespace
from sqlalchemy import select
from sincro.config import get_settings
from sincro.db import database_for
from sincro.customers.models import Customer
from sincro.mail import Mailer, SmtpSettings
from sincro.messaging import compose
from sincro.messaging.models import LedgerEntry, TemplateVersion
from sincro.messaging.service import default_sender
s = get_settings(); db = database_for(s)
with db.read() as session:
    v = session.scalars(select(TemplateVersion)).first()
    session.expunge(v)
    people = list(session.execute(
        select(Customer.id, Customer.name, Customer.email, Customer.city, Customer.state,
               Customer.plan).order_by(Customer.id)
    ))
campaign = SimpleNamespace(name="bench", sender=default_sender(s), reply_to=None)
rows = [
    LedgerEntry(id=i, campaign_id=0, customer_id=cid, purpose="marketing", email=email,
                name=name, city=city, state=state, plan=plan, time_zone="America/Sao_Paulo")
    for i, (cid, name, email, city, state, plan) in enumerate(people, 1)
]
t0 = time.monotonic()
with Mailer(SmtpSettings.from_settings(s)) as mailer:
    for row in rows:
        assert mailer.send(compose.row_message(s, campaign, row, v)).ok
print(time.monotonic() - t0)
"""
    return float(run.python(code))


def workers_cpu(run: Run) -> float:
    """Seconds of CPU (user + system, from /proc) the run's live workers have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for worker in run.workers:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def campaign_timing(run: Run, campaign: int) -> float:
    """Seconds from a campaign's start to its last ledger row written (the planning)."""
    import psycopg

    url = run.database_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT EXTRACT(EPOCH FROM max(l.created_at) - c.started_at) FROM campaigns c"
            " JOIN send_ledger l ON l.campaign_id = c.id WHERE c.id = %s GROUP BY c.started_at",
            (campaign,),
        ).fetchone()
    return float(row[0]) if row else 0.0
