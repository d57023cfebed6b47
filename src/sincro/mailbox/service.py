"""Reading the SMTP sink's file for the console: pages of messages and one message with its
headers, text part and a sanitized HTML part. The file is the sink's own SQLite database
(:mod:`sincro.mailbox.store`), not the product's."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from pathlib import Path
from typing import cast

from sincro.config import Settings
from sincro.mailbox import store
from sincro.mailbox.store import StoredMessage

SHOWN_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Return-Path",
    "Auto-Submitted",
    "Content-Language",
)
MAX_PARTS = 50
MAX_PART_CHARS = 500_000


def sink_path(settings: Settings) -> Path | None:
    """The sink's file: the setting, else ``var/mail-sink.sqlite`` in embedded mode; None in
    production without the setting (no mailbox page there)."""
    if settings.mailbox_sink_path is not None:
        return settings.mailbox_sink_path
    if settings.mode == "embedded":
        return settings.var_dir / "mail-sink.sqlite"
    return None


@dataclass(frozen=True, slots=True)
class MessageView:
    stored: StoredMessage
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None  # sanitized


def open_sink(settings: Settings) -> sqlite3.Connection | None:
    """A read connection to the sink's file, or None when there is none (yet)."""
    path = sink_path(settings)
    if path is None:
        return None
    try:
        return store.connect(path)
    except (FileNotFoundError, sqlite3.Error):
        return None


def page(
    conn: sqlite3.Connection, q: str, offset: int, limit: int
) -> tuple[list[StoredMessage], int]:
    try:
        return store.page(conn, q, offset, limit)
    except sqlite3.OperationalError:  # the sink has not created its table yet
        return [], 0


def view(conn: sqlite3.Connection, message_id: int) -> MessageView | None:
    try:
        stored = store.get(conn, message_id)
    except sqlite3.OperationalError:
        return None
    if stored is None:
        return None
    raw = stored.headers if stored.body is None else stored.headers + b"\r\n" + stored.body
    message = cast(EmailMessage, message_from_bytes(raw, policy=default_policy))
    headers = [(name, _header(message, name)) for name in SHOWN_HEADERS if name in message]
    text = html = None
    if stored.body is not None:
        text, html = _parts(message)
    return MessageView(stored, headers, text, sanitize(html) if html is not None else None)


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name, ""))
    except (ValueError, IndexError, TypeError):
        return "(cabeçalho inválido)"


def _parts(message: EmailMessage) -> tuple[str | None, str | None]:
    """The first text/plain and text/html parts (at most :data:`MAX_PARTS` looked at)."""
    text = html = None
    for index, part in enumerate(message.walk()):
        if index >= MAX_PARTS:
            break
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        body = decoded(part)[:MAX_PART_CHARS]
        if kind == "text/plain" and text is None:
            text = body
        elif kind == "text/html" and html is None:
            html = body
    return text, html


def decoded(part: Message) -> str:
    """A text part's content as text, whatever its charset claims (unknown or wrong charsets
    fall back to UTF-8 with replacement characters)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def sanitize(html: str) -> str:
    """HTML safe to show: no scripts, handlers, forms or remote images (nh3, Ammonia's
    allow-list); images only as ``data:``. It is also shown in a sandboxed frame whose CSP
    forbids every remote load."""
    import nh3

    return nh3.clean(
        html,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_no_remote_images,
    )


def _no_remote_images(tag: str, attribute: str, value: str) -> str | None:
    """Remote images are tracking pixels here: only ``data:`` images keep their source."""
    if tag == "img" and attribute in ("src", "srcset") and not value.startswith("data:"):
        return None
    return value
