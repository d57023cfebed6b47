"""A real SMTP server for tests: the product's sink (:class:`sincro.mailbox.sink.SinkHandler`)
with rules instead of random failures, keeping what it receives in memory and counting the
connections that carried mail. Recipients starting with ``temp`` get a 451, ``gone`` a 550;
a subject containing ``recusar`` gets a 554 at DATA."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest

from sincro.mailbox.sink import SinkHandler, free_port, running

__all__ = ["Certificate", "SmtpSink", "free_port", "running_sink", "self_signed"]


@dataclass
class SmtpSink(SinkHandler):
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # as received, byte for byte
    sessions: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def connections(self) -> int:
        """Distinct SMTP sessions (one per TCP connection) that sent at least MAIL FROM."""
        return len({id(s) for s in self.sessions})

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not any(s is session for s in self.sessions):
            self.sessions.append(session)
        envelope.mail_from = address
        return "250 OK"

    def rcpt_reply(self, address: str) -> str | None:
        if address.startswith("temp"):
            return "451 4.3.0 Caixa temporariamente indisponivel"
        if address.startswith("gone"):
            return "550 5.1.1 Caixa inexistente"
        return None

    def data_reply(self, envelope: Any) -> str | None:
        if "recusar" in str(parsed(envelope)["Subject"]):
            return "554 5.7.1 Conteudo recusado"
        return None

    def keep(self, envelope: Any) -> None:
        self.messages.append(parsed(envelope))
        self.raw.append(bytes(envelope.content))


def parsed(envelope: Any) -> EmailMessage:
    return cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))


@contextmanager
def running_sink(**smtp_options: Any) -> Iterator[SmtpSink]:
    """An SMTP sink on a free local port (``smtp_options`` go to aiosmtpd's SMTP/Controller:
    ``tls_context``, ``ssl_context``, ``authenticator``, ``timeout``…)."""
    sink = SmtpSink(port=free_port())
    with running(sink, port=sink.port, **smtp_options):
        yield sink


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(directory: Path) -> Certificate:
    """A certificate for 127.0.0.1 made with the openssl command (skips without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)
