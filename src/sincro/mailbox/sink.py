"""A local SMTP sink (aiosmtpd) that keeps what it receives: ``sincro mail sink``.

:class:`SinkHandler` answers every command of an SMTP session. It can add latency per message
and refuse a share of recipients (or of messages, at DATA) with a temporary 451 or a
permanent 550, chosen at random, so senders can be measured against a slow or flaky relay.
Accepted messages go to a :class:`~sincro.mailbox.store.SinkWriter` (headers always, bodies
when asked) in batches. The tests' sink (``tests/smtp_sink.py``) is a subclass with rules of
its own instead of random failures.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any, Literal

from sincro.mailbox.store import SinkWriter

TEMP_FAIL = "451 4.3.0 Falha temporaria simulada"
PERM_FAIL = "550 5.1.1 Caixa inexistente (falha simulada)"
OK = "250 OK"
FailAt = Literal["rcpt", "data"]


@dataclass
class SinkCounters:
    accepted: int = 0
    temporary: int = 0
    permanent: int = 0


@dataclass
class SinkHandler:
    """aiosmtpd handler: failures at random (``temp_fail_rate``, ``perm_fail_rate`` of the
    RCPTs or of the DATAs), ``latency_seconds`` added to each DATA, accepted mail kept by
    ``writer`` (None: only counted)."""

    latency_seconds: float = 0.0
    temp_fail_rate: float = 0.0
    perm_fail_rate: float = 0.0
    fail_at: FailAt = "rcpt"
    keep_bodies: bool = False
    writer: SinkWriter | None = None
    counters: SinkCounters = field(default_factory=SinkCounters)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not (0 <= self.temp_fail_rate <= 1 and 0 <= self.perm_fail_rate <= 1):
            raise ValueError("failure rates are shares between 0 and 1")
        if self.temp_fail_rate + self.perm_fail_rate > 1:
            raise ValueError("the two failure rates add up to more than 1")

    # --- rules a subclass may replace -----------------------------------------------------

    def random_failure(self) -> str | None:
        draw = self.rng.random()
        if draw < self.temp_fail_rate:
            return TEMP_FAIL
        if draw < self.temp_fail_rate + self.perm_fail_rate:
            return PERM_FAIL
        return None

    def rcpt_reply(self, address: str) -> str | None:
        """A refusal for this recipient, or None to accept it."""
        return self.random_failure() if self.fail_at == "rcpt" else None

    def data_reply(self, envelope: Any) -> str | None:
        """A refusal for this message, or None to accept it."""
        return self.random_failure() if self.fail_at == "data" else None

    def keep(self, envelope: Any) -> None:
        """Keep an accepted message (the header block always, the body when asked)."""
        if self.writer is None:
            return
        content: bytes = envelope.original_content or envelope.content or b""
        head, _, body = split_message(content)
        headers = BytesHeaderParser(policy=default_policy).parsebytes(head)
        self.writer.add(
            (
                time.time(),
                str(envelope.mail_from or ""),
                ", ".join(envelope.rcpt_tos),
                _header(headers, "Subject"),
                _header(headers, "Message-ID"),
                len(content),
                head,
                body if self.keep_bodies else None,
            )
        )

    # --- aiosmtpd hooks ---------------------------------------------------------------------

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.rcpt_reply(address)
        if refusal is not None:
            self._count(refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        return OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        refusal = self.data_reply(envelope)
        if refusal is not None:
            self._count(refusal)
            return refusal
        self.keep(envelope)
        self.counters.accepted += 1
        return OK

    def _count(self, refusal: str) -> None:
        if refusal.startswith("4"):
            self.counters.temporary += 1
        else:
            self.counters.permanent += 1


def split_message(content: bytes) -> tuple[bytes, bytes, bytes]:
    """``(header block, separator, body)`` of a raw message (CRLF or LF line ends)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = content.partition(separator)
        if found:
            return head + separator[: len(separator) // 2], found, body
    return content, b"", b""


def _header(headers: Any, name: str) -> str:
    try:
        value = headers.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed header: keep it unparsed
        value = None
    return str(value or "")[:998]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def running(
    handler: Any, host: str = "127.0.0.1", port: int = 0, **smtp_options: Any
) -> Iterator[int]:
    """Run ``handler`` on an aiosmtpd server in a thread; yields the port (free one for 0)."""
    from aiosmtpd.controller import Controller

    port = port or free_port(host)
    smtp_options.setdefault("decode_data", False)
    controller = Controller(handler, hostname=host, port=port, **smtp_options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
