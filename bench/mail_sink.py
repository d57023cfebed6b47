"""How many messages a second ``sincro mail sink`` accepts and keeps (headers, or bodies too):
the ceiling of the sending benchmarks, which need 1,000,000 e-mails/hour (278/s) from it.

The sink runs as its own process (``sincro mail sink``) and ``--senders`` processes each send
``--messages`` pre-built messages over one reused SMTP connection (kernel ``Mailer``). Reports
accepted/s, e-mails/hour and the rows the sink kept.

    python -m bench.mail_sink --senders 4 --messages 2000 [--keep-bodies] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, count: int, worker: int) -> int:
    from sincro.mail import Mailer, SmtpSettings, build_message

    messages = [
        build_message(
            sender="Operadora <faturas@operadora.test>",
            to=f"cliente{worker}-{n}@exemplo.test",
            subject=f"Sua fatura {n} está disponível",
            text="Olá! Sua fatura de R$ 89,90 vence em 10/12/2026.\n" * 20,
            html="<p>Olá! Sua fatura de <b>R$ 89,90</b> vence em 10/12/2026.</p>" * 20,
            headers={"List-Unsubscribe": "<https://operadora.test/u/x>"},
        )
        for n in range(count)
    ]
    smtp = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}?max_per_connection=100000")
    with Mailer(smtp) as mailer:
        return sum(1 for result in mailer.send_many(messages) if result.ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=2000, help="per sender")
    parser.add_argument("--keep-bodies", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="sincro-sink-bench-"))
    path, port = folder / "sink.sqlite", _free_port()
    command = [sys.executable, "-m", "sincro.cli", "mail", "sink", "--port", str(port)]
    command += ["--path", str(path), "--latency-ms", str(args.latency_ms), "--report-seconds", "0"]
    if args.keep_bodies:
        command.append("--keep-bodies")
    sink = subprocess.Popen(command, env={**os.environ, "SINCRO_VAR_DIR": str(folder)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise SystemExit("the sink did not start") from None
                time.sleep(0.1)
        started = time.monotonic()
        with multiprocessing.Pool(args.senders) as pool:
            sent = sum(pool.starmap(_send, [(port, args.messages, w) for w in range(args.senders)]))
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(sink.pid)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(60)
    kept = sqlite3.connect(path).execute("SELECT count(*) FROM messages").fetchone()[0]
    rate = sent / elapsed
    print(
        f"{args.senders} senders × {args.messages}: {sent} accepted in {elapsed:.1f} s = "
        f"{rate:,.0f}/s = {rate * 3600:,.0f} e-mails/hour; {kept} kept "
        f"({'bodies' if args.keep_bodies else 'headers'}), file {path.stat().st_size / 1e6:.1f} MB"
    )
    # The sink's own CPU per message bounds what it can take on one core, whatever the load
    # of the machine (start-up included, so this is pessimistic).
    print(
        f"sink CPU: {cpu:.1f} s = {cpu / sent * 1000:.2f} ms/message -> at most "
        f"{sent / cpu * 3600:,.0f} e-mails/hour on one core"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
