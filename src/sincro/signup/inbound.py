"""Reading an incoming e-mail defensively: its identity (Message-ID, sender, subject,
threading), whether it was written by a machine (auto-replies, bounces, lists: never
answered, so two robots cannot reply to each other forever), and its text.

Outside mail is hostile: the caller refuses messages over the size cap before their body is
fetched; here at most :data:`MAX_PARTS` MIME parts are looked at (a "MIME bomb" of thousands
of nested parts costs nothing more), a text is cut at :data:`~sincro.signup.parsing.MAX_TEXT_CHARS`,
unknown or lying charsets decode with replacement characters, NULs and control characters are
dropped, and an HTML-only message is turned into text without executing or fetching anything.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr

from sincro.signup.parsing import MAX_TEXT_CHARS, clean_text

MAX_PARTS = 30
MAX_HEADER_CHARS = 998
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_ROBOT_LOCALS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)\b", re.I)
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_HTML_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_HTML_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6]|p|div|li|tr)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[^>]{0,2000}>")
_BLOCKQUOTE = re.compile(r"(<\s*/?\s*blockquote\b[^>]*>)", re.I)


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the sign-up service needs of one message."""

    key: str  # sha256 of the Message-ID (of the header block when there is none)
    message_id: str  # "<…>" as received ("" none)
    sender: str  # the address to answer (Reply-To, else From), lower case; "" none
    subject: str
    references: str  # for the reply's References
    automatic: bool  # auto-reply, bounce, list, or our own address: never answer
    text: str  # the readable text (plain part, else HTML as text), cleaned and capped


def message_key(message_id: str, headers: bytes) -> str:
    basis = message_id.encode() if message_id else b"no-id:" + headers
    return hashlib.sha256(basis).hexdigest()


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError, LookupError):  # malformed encoded words
        return ""
    return clean_text(str(value or ""))[:MAX_HEADER_CHARS].replace("\n", " ")


def _address(value: str) -> str:
    addresses = [addr for _, addr in getaddresses([value]) if "@" in addr]
    return addresses[0].strip().lower()[:200] if addresses else ""


def is_automatic(message: Message, own_address: str) -> bool:
    """True for mail a robot sent: ``Auto-Submitted`` other than ``no`` (RFC 3834),
    ``Precedence: bulk|junk|list``, an empty ``Return-Path`` (bounces), delivery reports,
    mailer-daemon/postmaster/no-reply senders, list mail, or our own address."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    if _header(message, "Precedence").strip().lower() in _AUTO_PRECEDENCE:
        return True
    if any(_header(message, h) for h in ("X-Autoreply", "X-Autorespond", "List-Id")):
        return True
    if "Return-Path" in message and _header(message, "Return-Path").strip() in ("<>", ""):
        return True
    if message.get_content_type() == "multipart/report":
        return True
    sender = _address(_header(message, "From"))
    local = sender.partition("@")[0]
    if not sender or _ROBOT_LOCALS.match(local):
        return True
    return sender == parseaddr(own_address)[1].lower()


def read_headers(raw_headers: bytes, own_address: str) -> Inbound:
    """An :class:`Inbound` from the header block alone (a message too big to fetch)."""
    return _inbound(raw_headers, raw_headers, own_address, with_text=False)


def read(raw: bytes, own_address: str) -> Inbound:
    """An :class:`Inbound` from the whole message."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    return _inbound(raw, head, own_address, with_text=True)


def _inbound(raw: bytes, head: bytes, own_address: str, *, with_text: bool) -> Inbound:
    message = message_from_bytes(raw, policy=default_policy)
    ids = _MSGID.findall(_header(message, "Message-ID"))
    message_id = ids[0][:255] if ids else ""
    reply_to = _address(_header(message, "Reply-To"))
    sender = reply_to or _address(_header(message, "From"))
    references = " ".join(_MSGID.findall(_header(message, "References"))[-10:])
    return Inbound(
        key=message_key(message_id, head),
        message_id=message_id,
        sender=sender,
        subject=_header(message, "Subject")[:200],
        references=references,
        automatic=is_automatic(message, own_address),
        text=body_text(message) if with_text else "",
    )


def body_text(message: Message) -> str:
    """The first text/plain part, else the first text/html part as text ("" none)."""
    plain = markup = None
    for index, part in enumerate(message.walk()):
        if index >= MAX_PARTS:
            break
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _decoded(part)
        elif kind == "text/html" and markup is None:
            markup = _decoded(part)
        if plain is not None:
            break
    if plain is not None:
        return clean_text(plain)
    return clean_text(html_to_text(markup)) if markup else ""


def _decoded(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError):
        return ""
    if not isinstance(payload, bytes):
        return ""
    payload = payload[: MAX_TEXT_CHARS * 4]
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", "replace")


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: scripts, styles and comments dropped, block tags as line
    breaks, other tags removed, entities decoded; what a ``<blockquote>`` holds (the quoted
    message of a reply) gets "> " before each line."""
    markup = _HTML_DROP.sub(" ", markup[: MAX_TEXT_CHARS * 4])
    out: list[str] = []
    depth = 0
    for piece in _BLOCKQUOTE.split(markup):
        if _BLOCKQUOTE.fullmatch(piece):
            depth = max(0, depth + (-1 if "/" in piece else 1))
            out.append("\n")
            continue
        text = html.unescape(_HTML_TAG.sub("", _HTML_BREAK.sub("\n", piece)))
        lines = [" ".join(line.split()) for line in text.split("\n")]
        out.append("\n".join(("> " + line if depth and line else line) for line in lines))
    return "".join(out)
