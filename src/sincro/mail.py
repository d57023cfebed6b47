"""Sending e-mail over SMTP, one connection reused across messages.

:class:`Mailer` keeps one SMTP connection open while it sends (alerts send a few per round;
messaging sends campaigns of thousands), opens it again when the server dropped it, starts
TLS (``starttls``) or speaks TLS from the start (``smtps``) and logs in as configured. Each
message gets a :class:`SendResult` with the server's reply code, classified: ``sent`` (2xx),
``temporary`` (4xx or no answer at all: worth retrying later) or ``permanent`` (5xx: retrying
will not help — a mailbox that does not exist, content refused).

Settings come from ``SINCRO_SMTP_URL`` (``smtp://user:pass@host:port``; ``?starttls=1``;
``smtps://`` for implicit TLS; optional ``timeout`` and ``max_per_connection`` query
parameters) and ``SINCRO_ALERT_FROM`` as the default sender, read into :class:`SmtpSettings`.

A mailer is not shared between threads: it serialises its callers with a lock.

``Mailer.send(…, before_dot=check)`` runs ``check`` after the message's body went out and
before the final ``.`` that makes the server take it (the messaging worker collects the previous
message's committed outcome there); when ``check`` raises, the dot is never sent, the
connection is closed (the server drops the unfinished message) and :class:`Undelivered` is
raised.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formataddr, formatdate, getaddresses, make_msgid, parseaddr
from enum import StrEnum
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sincro.config import Settings

if TYPE_CHECKING:
    from typing_extensions import Buffer

log = logging.getLogger("sincro.mail")


class SmtpSettings(BaseModel):
    """Where and how to send: built from the existing settings by :meth:`from_settings`."""

    model_config = ConfigDict(frozen=True)

    host: str = "localhost"
    port: int | None = None  # 25, or 465 for ssl
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = "sincro@localhost"
    timeout_seconds: float = Field(default=15.0, gt=0)
    max_per_connection: int = Field(default=100, ge=1)  # servers limit messages per session

    @classmethod
    def from_url(cls, url: str, sender: str = "sincro@localhost") -> SmtpSettings:
        """``smtp://user:pass@host:port?starttls=1&timeout=15&max_per_connection=100`` or
        ``smtps://…``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP URL must start with smtp:// or smtps://, got {url!r}")
        options = {k: v[0] for k, v in parse_qs(parts.query).items()}
        security: Literal["none", "starttls", "ssl"] = "none"
        if parts.scheme == "smtps":
            security = "ssl"
        elif options.get("starttls", "0").lower() in ("1", "true", "yes"):
            security = "starttls"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
            timeout_seconds=float(options.get("timeout", 15.0)),
            max_per_connection=int(options.get("max_per_connection", 100)),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings | None:
        """The SMTP settings of ``SINCRO_SMTP_URL`` (None when mail is not configured)."""
        if not settings.smtp_url:
            return None
        return cls.from_url(settings.smtp_url, sender=settings.alert_from)


class Delivery(StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx or no answer: try again later
    PERMANENT = "permanent"  # 5xx: the same message will be refused again


def classify(code: int | None) -> Delivery:
    """2xx sent, 5xx permanent; 4xx and no reply (connection trouble) temporary."""
    if code is not None and 200 <= code < 300:
        return Delivery.SENT
    if code is not None and 500 <= code < 600:
        return Delivery.PERMANENT
    return Delivery.TEMPORARY


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message."""

    message_id: str | None
    delivery: Delivery
    code: int | None  # the SMTP reply code; None when the server never answered
    detail: str = ""
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # some recipients

    @property
    def ok(self) -> bool:
        return self.delivery is Delivery.SENT


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message already in wire form (see :func:`wire_message`): what a bulk sender builds,
    signs and sends without the header machinery of :class:`EmailMessage`."""

    data: bytes
    sender: str  # the From address: MAIL FROM unless the caller gives an envelope sender
    recipients: tuple[str, ...]
    message_id: str
    smtputf8: bool = False  # an address is not ASCII: the server must accept SMTPUTF8


def _decoded(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _refusal(message_id: str | None, exc: smtplib.SMTPException) -> SendResult:
    """The result of a refused message (every recipient, the sender or the content)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {rcpt: (code, _decoded(text)) for rcpt, (code, text) in exc.recipients.items()}
        codes = [code for code, _ in replies.values()]
        temporary = [c for c in codes if c < 500]  # one mailbox may take it later: retry
        code: int | None = (temporary or codes)[0] if codes else None
        detail = "; ".join(f"{rcpt}: {c} {text}" for rcpt, (c, text) in replies.items())
        return SendResult(message_id, classify(code), code, detail, replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendResult(
            message_id, classify(exc.smtp_code), exc.smtp_code, _decoded(exc.smtp_error)
        )
    return SendResult(message_id, Delivery.PERMANENT, None, f"{type(exc).__name__}: {exc}")


class Undelivered(Exception):
    """``before_dot`` raised (it is the ``__cause__``): the message's final dot was never sent,
    so the server dropped it, and the connection was closed."""


_LEADING_DOT = re.compile(rb"(?m)^\.")
_LINE_END = re.compile(r"\r\n|\r|\n")


class _Smtp(smtplib.SMTP):
    """smtplib's client whose ``DATA`` runs ``before_dot`` (set for one message) between the
    body and the final dot."""

    before_dot: Callable[[], None] | None = None

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        before_dot = self.before_dot
        if before_dot is None:
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # as smtplib: text gets CRLF line ends, and lines starting with "." are dot-stuffed
        raw = _LINE_END.sub("\r\n", msg).encode("ascii") if isinstance(msg, str) else bytes(msg)
        body = _LEADING_DOT.sub(b"..", raw)
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        try:
            before_dot()
        except BaseException as exc:
            self.close()  # no dot: the server never takes the message
            if isinstance(exc, Exception):
                raise Undelivered(str(exc)) from exc
            raise
        self.send(b".\r\n")
        return self.getreply()


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same over implicit TLS."""


class Mailer:
    """An SMTP client that reuses one connection for every message it sends.

    Use it as a context manager (the connection is closed at the end) or call :meth:`close`.
    ``tls_context`` defaults to the system's trust store."""

    def __init__(self, settings: SmtpSettings, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.tls_context = tls_context or ssl.create_default_context()
        self.connections_opened = 0
        self._client: _Smtp | None = None
        self._sent_on_connection = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Mailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send(
        self,
        message: EmailMessage | RawMessage,
        envelope_from: str | None = None,
        *,
        before_dot: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send one message over the open connection (opened or reopened when needed).
        ``envelope_from`` is the SMTP ``MAIL FROM`` (the Return-Path bounces go to, e.g. a
        VERP address); by default the message's sender. ``before_dot``: run before the final
        dot, at most once per attempt (see the module's docstring); it may not run at all (a
        refusal before DATA) or, when a dropped connection is retried, twice: it must be
        idempotent."""
        with self._lock:
            return self._send(message, envelope_from, before_dot)

    def send_many(self, messages: Iterable[EmailMessage]) -> list[SendResult]:
        """Send every message over one connection, a result per message in order. When the
        server cannot be reached (or refuses the login) the rest are not tried: they get the
        same temporary or permanent result."""
        results: list[SendResult] = []
        unreachable: SendResult | None = None
        with self._lock:
            for message in messages:
                if unreachable is not None:
                    results.append(
                        SendResult(
                            message["Message-ID"],
                            unreachable.delivery,
                            unreachable.code,
                            f"not tried: {unreachable.detail}",
                        )
                    )
                    continue
                result = self._send(message)
                if self._client is None and not result.ok and result.code in (None, 421, 530, 535):
                    unreachable = result
                results.append(result)
        return results

    def close(self) -> None:
        """Say QUIT and close the connection (harmless when none is open)."""
        with self._lock:
            self._disconnect()

    # --- the connection ---------------------------------------------------------------------

    def _connect(self) -> _Smtp:
        s = self.settings
        client: _Smtp
        if s.security == "ssl":
            client = _SmtpSsl(
                s.host, s.port or 465, timeout=s.timeout_seconds, context=self.tls_context
            )
        else:
            client = _Smtp(s.host, s.port or 25, timeout=s.timeout_seconds)
        try:
            # commands and the final dot go out at once, not held back by Nagle's algorithm
            # behind the body (a gated message sends them separately)
            if client.sock is not None:
                client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.security == "starttls":
                client.starttls(context=self.tls_context)
            if s.username:
                client.login(s.username, s.password or "")
        except BaseException:
            client.close()
            raise
        self.connections_opened += 1
        self._sent_on_connection = 0
        return client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            client.close()

    def _send(
        self,
        message: EmailMessage | RawMessage,
        envelope_from: str | None = None,
        before_dot: Callable[[], None] | None = None,
    ) -> SendResult:
        if self._sent_on_connection >= self.settings.max_per_connection:
            self._disconnect()
        reused = self._client is not None
        result = self._attempt(message, envelope_from, before_dot)
        if reused and self._client is None and result.code in (None, 421):
            # The kept connection was gone (the server closes idle sessions): one new try.
            result = self._attempt(message, envelope_from, before_dot)
        return result

    def _attempt(
        self,
        message: EmailMessage | RawMessage,
        envelope_from: str | None = None,
        before_dot: Callable[[], None] | None = None,
    ) -> SendResult:
        message_id = (
            message.message_id if isinstance(message, RawMessage) else message["Message-ID"]
        )
        try:
            if self._client is None:
                self._client = self._connect()
            self._client.before_dot = before_dot
            try:
                if isinstance(message, RawMessage):
                    refused = self._client.sendmail(
                        envelope_from or message.sender,
                        list(message.recipients),
                        message.data,
                        mail_options=["SMTPUTF8"] if message.smtputf8 else [],
                    )
                else:
                    refused = self._client.send_message(message, from_addr=envelope_from)
            finally:
                self._client.before_dot = None
        except Undelivered:
            self._disconnect()  # already closed by the gate: forget it
            raise
        except smtplib.SMTPServerDisconnected as exc:
            self._disconnect()
            return SendResult(message_id, Delivery.TEMPORARY, None, f"disconnected: {exc}")
        except smtplib.SMTPResponseException as exc:  # sender, content, login refused; 421
            if exc.smtp_code == 421 or not getattr(self._client, "sock", None):
                self._disconnect()
            return _refusal(message_id, exc)
        except smtplib.SMTPException as exc:  # every recipient refused; SMTPUTF8 unsupported
            return _refusal(message_id, exc)
        except OSError as exc:  # connection refused, unreachable, timed out, TLS failure
            self._disconnect()
            detail = f"{type(exc).__name__}: {exc}"
            return SendResult(message_id, Delivery.TEMPORARY, None, detail)
        self._sent_on_connection += 1
        return SendResult(message_id, Delivery.SENT, 250, "", _replies(refused))


def _replies(refused: Mapping[str, tuple[int, bytes]]) -> dict[str, tuple[int, str]]:
    return {rcpt: (code, _decoded(text)) for rcpt, (code, text) in refused.items()}


def build_message(
    *,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A UTF-8 message in pt-BR: accented subjects and display names are encoded as the RFC
    says (``=?utf-8?…?=``), bodies are UTF-8 text (and HTML as an alternative when given);
    ``Date``, ``Message-ID`` (on the sender's domain) and ``Content-Language: pt-BR`` set."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_domain_of(sender))
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    message["Content-Language"] = "pt-BR"  # after the body: set_content drops Content-*
    return message


_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP  # pt-BR text: mostly ASCII, so quoted-printable reads best
# one line of printable ASCII words separated by single spaces: what compat32 writes unchanged
_PLAIN_HEADER = re.compile(r"[!-~]+(?: [!-~]+)*")
# a bare address (dot-atom local part and domain): parsed, it is itself
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_BARE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class _WirePolicy(Compat32):
    """compat32 in wire form. Headers are not refolded: an unbreakable List-Unsubscribe URL
    would otherwise move to a continuation line (legal, but some readers keep the leading
    space); encoded words come folded from Header, and no header Sincro writes nears the
    998-character limit. A plain header (:data:`_PLAIN_HEADER`) is written as it is, without
    compat32's ``Header`` round trip that would give the same bytes (a third of the cost of
    building a campaign message)."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if (
            isinstance(value, str)
            and len(name) + len(value) + 2 <= (self.max_line_length or 0)
            and _PLAIN_HEADER.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE_POLICY = _WirePolicy(linesep="\r\n", max_line_length=998)


def _header_text(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


@lru_cache(maxsize=256)  # a campaign's From and Reply-To repeat on every message
def _address_header(value: str) -> str:
    return ", ".join(formataddr(pair, charset="utf-8") for pair in getaddresses([value]))


@lru_cache(maxsize=256)
def _addresses(value: str) -> tuple[str, ...]:
    return tuple(addr for _, addr in getaddresses([value]))


@lru_cache(maxsize=256)
def _envelope_of(sender: str) -> str:
    return parseaddr(sender)[1]


def _boundary() -> str:
    """A multipart boundary that cannot occur in the parts, so the generator need not search
    them for it (a regular expression compiled per message): ``=_`` never appears in
    quoted-printable (``=`` is always followed by two hex digits or a line break) nor in
    base64, the only body encodings of :func:`wire_message`."""
    return f"=_{secrets.token_hex(12)}"


def _text_part(content: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(content, _BODY_CHARSET)
    return part


def wire_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
    attachments: Sequence[tuple[bytes, str, str]] = (),
) -> RawMessage:
    """The message :func:`build_message` describes (plus ``attachments``: ``(content,
    content type, file name)``), in wire form, built with the email package's compat32 API:
    about 4x cheaper than :class:`EmailMessage`'s header registry and refolding, which
    dominated a campaign worker's CPU, and 3x cheaper again by skipping work whose result is
    known: plain headers written as they are (:class:`_WirePolicy`), a bare recipient address
    not parsed, the sender's addresses parsed once, boundaries the parts cannot contain
    (:func:`_boundary`). Addresses that are not ASCII take the :class:`EmailMessage` path (it
    knows SMTPUTF8)."""
    message_id = message_id or make_msgid(domain=_domain_of(sender))
    bare = _BARE_ADDRESS.fullmatch(to) is not None  # a ledger row's address: no parsing
    recipients = (to,) if bare else _addresses(to)
    envelope = _envelope_of(sender)
    replies = _addresses(reply_to) if reply_to else ()
    if not all(a.isascii() for a in (envelope, *recipients, *replies)):
        message = build_message(
            sender=sender, to=to, subject=subject, text=text, html=html,
            reply_to=reply_to, headers=headers,
        )  # fmt: skip
        del message["Message-ID"]
        message["Message-ID"] = message_id
        for content, content_type, filename in attachments:
            maintype, _, subtype = content_type.partition("/")
            message.add_attachment(
                content, maintype=maintype or "application",
                subtype=subtype or "octet-stream", filename=filename,
            )  # fmt: skip
        data = message.as_bytes(policy=email_policy.SMTPUTF8)
        return RawMessage(data, envelope, recipients, message_id, smtputf8=True)
    body: Message = _text_part(text, "plain")
    if html is not None:
        body = MIMEMultipart(
            "alternative", boundary=_boundary(), _subparts=[body, _text_part(html, "html")]
        )
    if attachments:
        parts = [body]
        for content, content_type, filename in attachments:
            maintype, _, subtype = content_type.partition("/")
            part = MIMEApplication(content, subtype or "octet-stream")
            if maintype and maintype != "application":
                part.replace_header("Content-Type", content_type)
            part.add_header("Content-Disposition", "attachment", filename=filename)
            parts.append(part)
        body = MIMEMultipart("mixed", boundary=_boundary(), _subparts=parts)
    top = {
        "Subject": _header_text(subject),
        "From": _address_header(sender),
        "To": to if bare else _address_header(to),
        "Reply-To": _address_header(reply_to) if reply_to else None,
        "Date": formatdate(localtime=False),
        "Message-ID": message_id,
        **{name: _header_text(value) for name, value in (headers or {}).items()},
        "Content-Language": "pt-BR",
    }
    for name, value in top.items():
        if value is not None:
            body[name] = value
    return RawMessage(body.as_bytes(policy=_WIRE_POLICY), envelope, recipients, message_id)


@lru_cache(maxsize=256)  # a campaign's sender, on every message's Message-ID
def _domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    try:
        return Address(addr_spec=address).domain or "sincro"
    except (ValueError, IndexError):
        return "sincro"
