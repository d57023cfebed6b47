"""``sincro mail sink``: a real SMTP server in a child process that keeps what it receives in
its SQLite file, adds latency, refuses shares of recipients, and counts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from sincro.mail import Delivery, Mailer, SmtpSettings, build_message
from sincro.mailbox import store
from sincro.mailbox.sink import SinkHandler, running
from sincro.mailbox.store import SinkWriter
from tests.services import port_open
from tests.smtp_sink import free_port


@contextmanager
def sink_process(path: Path, *options: str) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "SINCRO_VAR_DIR": str(path.parent),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sincro.cli",
            "mail",
            "sink",
            "--port",
            str(port),
            "--path",
            str(path),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert proc.poll() is None, proc.communicate()[0].decode()
            assert time.monotonic() < deadline, "the sink did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
        assert proc.returncode == 0, output


def mailer(port: int) -> Mailer:
    return Mailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", sender="sincro@loja.test"))


def message(n: int, to: str = "cliente@exemplo.test") -> EmailMessage:
    return build_message(
        sender="Loja <sincro@loja.test>",
        to=to,
        subject=f"Fatura nº {n} disponível",
        text=f"Olá! Sua fatura {n} está disponível.",
        html=f"<p>Olá! Sua fatura <b>{n}</b> está disponível.</p>",
        headers={"List-Unsubscribe": "<https://loja.test/u/abc>"},
    )


def test_the_sink_command_keeps_headers_and_bodies_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "sink.sqlite"
    with sink_process(path, "--keep-bodies") as port, mailer(port) as client:
        results = client.send_many([message(n) for n in range(30)])
        assert all(r.ok for r in results)
        deadline = time.monotonic() + 5
        while _count(path) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    conn = store.connect(path)
    rows, total = store.page(conn, "", 0, 10)
    assert total == 30
    assert rows[0].subject == "Fatura nº 29 disponível"  # newest first
    assert rows[0].rcpt_to == "cliente@exemplo.test"
    assert rows[0].message_id == results[29].message_id
    assert b"List-Unsubscribe: <https://loja.test/u/abc>" in rows[0].headers
    assert rows[0].body is not None and b"multipart/alternative" in rows[0].headers
    found, matching = store.page(conn, "fatura nº 7", 0, 10)
    assert matching == 1 and found[0].subject == "Fatura nº 7 disponível"


def test_without_keep_bodies_only_headers_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "sink.sqlite"
    writer = SinkWriter(path)
    with running(SinkHandler(writer=writer)) as port, mailer(port) as client:
        assert client.send(message(1)).ok
    writer.close()
    [row] = store.page(store.connect(path), "", 0, 10)[0]
    assert row.body is None and b"Subject:" in row.headers


def test_failure_rates_answer_451_and_550_in_their_shares(tmp_path: Path) -> None:
    handler = SinkHandler(
        temp_fail_rate=0.2,
        perm_fail_rate=0.1,
        writer=SinkWriter(tmp_path / "s.sqlite"),
        rng=random.Random(7),  # the draws are random; the test is not
    )
    with running(handler) as port, mailer(port) as client:
        results = client.send_many([message(n) for n in range(200)])
    handler.writer.close()  # type: ignore[union-attr]
    kinds = [r.delivery for r in results]
    temporary, permanent = kinds.count(Delivery.TEMPORARY), kinds.count(Delivery.PERMANENT)
    assert 25 <= temporary <= 60 and 8 <= permanent <= 35  # 40 and 20 expected
    assert {r.code for r in results if not r.ok} == {451, 550}
    assert handler.counters.accepted == kinds.count(Delivery.SENT) == _count(tmp_path / "s.sqlite")
    assert (handler.counters.temporary, handler.counters.permanent) == (temporary, permanent)


def test_failures_at_data_refuse_the_message(tmp_path: Path) -> None:
    handler = SinkHandler(perm_fail_rate=1.0, fail_at="data")
    with running(handler) as port, mailer(port) as client:
        result = client.send(message(1))
    assert (result.delivery, result.code) == (Delivery.PERMANENT, 550)


def test_latency_is_added_per_message_without_blocking_other_connections(tmp_path: Path) -> None:
    import threading

    handler = SinkHandler(latency_seconds=0.2)
    with running(handler) as port:
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda: mailer(port).send_many([message(1), message(2)]))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    assert handler.counters.accepted == 8
    assert 0.4 <= elapsed < 1.4  # two messages in a row per connection; connections overlap


def _count(path: Path) -> int:
    try:
        return store.count(store.connect(path))
    except Exception:
        return 0
