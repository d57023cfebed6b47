"""``sincro mail …``: the demo's mail servers. ``sink`` is a local SMTP server that keeps
what it receives (the console's "Caixa de saída (demo)" reads it); ``imap`` is the embedded
IMAP server (pymap, in memory) the demo's sign-up watcher reads from."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from sincro.cli_common import configure_cli_logging, console, fail
from sincro.config import Settings


def serve_commands(settings: Settings, me: Sequence[str] | None = None) -> dict[str, list[str]]:
    """With ``SINCRO_MAILBOX_DEMO_SERVERS=true`` in embedded mode, ``sincro serve`` (and so
    ``sincro demo``) also runs the SMTP sink, keeping bodies, and the embedded IMAP server."""
    if not (settings.mailbox_demo_servers and settings.mode == "embedded"):
        return {}
    base = [*(me or [sys.executable, "-m", "sincro.cli"]), "mail"]
    return {
        "mail-sink": [*base, "sink", "--keep-bodies", "--report-seconds", "60"],
        "mail-imap": [*base, "imap"],
    }


mail_app = typer.Typer(help="Demo mail servers: SMTP sink, embedded IMAP.", no_args_is_help=True)


@mail_app.command("sink")
def sink(
    port: Annotated[int | None, typer.Option(help="SMTP port (SINCRO_MAILBOX_SINK_PORT)")] = None,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    path: Annotated[
        Path | None, typer.Option(help="SQLite file kept (SINCRO_MAILBOX_SINK_PATH)")
    ] = None,
    keep_bodies: Annotated[bool, typer.Option(help="Keep bodies too, not only headers")] = False,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added to each message")] = 0.0,
    temp_fail_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share answered 451 (temporary)")
    ] = 0.0,
    perm_fail_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share answered 550 (permanent)")
    ] = 0.0,
    fail_at: Annotated[str, typer.Option(help="Refuse at 'rcpt' or at 'data'")] = "rcpt",
    report_seconds: Annotated[
        float, typer.Option(min=0, help="Print counts every N seconds (0: never)")
    ] = 1.0,
) -> None:
    """Run a local SMTP sink that keeps what it receives (headers; bodies with
    --keep-bodies) in a SQLite file, optionally slow and flaky, printing counts per second."""
    from sincro.config import get_settings
    from sincro.mailbox.service import sink_path
    from sincro.mailbox.sink import SinkHandler, running
    from sincro.mailbox.store import SinkWriter

    configure_cli_logging()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection
    settings = get_settings()
    if fail_at not in ("rcpt", "data"):
        fail("--fail-at must be 'rcpt' or 'data'")
    file = path or sink_path(settings) or settings.var_dir / "mail-sink.sqlite"
    writer = SinkWriter(file)
    try:
        handler = SinkHandler(
            latency_seconds=latency_ms / 1000,
            temp_fail_rate=temp_fail_rate,
            perm_fail_rate=perm_fail_rate,
            fail_at="rcpt" if fail_at == "rcpt" else "data",
            keep_bodies=keep_bodies,
            writer=writer,
        )
    except ValueError as exc:
        writer.close()
        fail(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    chosen = settings.mailbox_sink_port if port is None else port
    try:
        with running(handler, host=host, port=chosen) as bound:
            console.print(f"SMTP sink on {host}:{bound}, keeping mail in {file}")
            last, last_count = time.monotonic(), 0
            while not stop.wait(report_seconds or 1.0):
                if not report_seconds:
                    continue
                now, counters = time.monotonic(), handler.counters
                rate = (counters.accepted - last_count) / (now - last)
                if rate or counters.accepted != last_count:
                    console.print(
                        f"{rate:,.0f}/s accepted; total {counters.accepted:,} accepted, "
                        f"{counters.temporary:,} 4xx, {counters.permanent:,} 5xx, "
                        f"{writer.written:,} kept",
                        highlight=False,
                    )
                last, last_count = now, counters.accepted
    finally:
        writer.close()


@mail_app.command("imap")
def imap(
    port: Annotated[int | None, typer.Option(help="IMAP port (SINCRO_MAILBOX_IMAP_PORT)")] = None,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
) -> None:
    """Run the embedded IMAP server of the demo (pymap, in memory, no TLS, loopback) with one
    user (SINCRO_MAILBOX_IMAP_USER / _PASSWORD). Its mail is lost when it stops."""
    from sincro.config import get_settings

    settings = get_settings()
    try:
        from pymap.main import main as pymap_main
    except ImportError:
        fail("the embedded IMAP server needs the pymap package (pip install pymap)")
    chosen = settings.mailbox_imap_port if port is None else port
    console.print(f"IMAP (pymap) on {host}:{chosen}, user {settings.mailbox_imap_user}")
    sys.argv = [
        "pymap",
        *("--host", host, "--port", str(chosen), "--no-tls"),
        "dict",
        *("--demo-user", settings.mailbox_imap_user),
        *("--demo-password", settings.mailbox_imap_password),
    ]
    pymap_main()
