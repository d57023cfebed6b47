"""Bounces: delivery status notifications (RFC 3464 ``multipart/report``) read from the bounce
mailbox over IMAP, matched to ledger rows by their VERP Return-Path.

A DSN is hostile input: it is parsed with the standard library's ``email`` package, only its
``message/delivery-status`` part and the addresses it names are read, and the row is taken from
the VERP address (``bounces+<row>-<mac>@…``, checked with the installation secret) — so a
forged bounce cannot suppress an address. A hard bounce is a ``failed`` action with a 5.x.x
status; 4.x.x (delayed) ones are reported and ignored."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from sincro.config import Settings
from sincro.db import Database
from sincro.messaging import compose, service

log = logging.getLogger("sincro.messaging.bounces")
STATUS_RE = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
MAX_DSN_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient's outcome in a DSN."""

    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # 5.1.1
    diagnostic: str
    entry_id: int | None  # the ledger row, from the VERP address

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5.")


def _fields(block: Message) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in block.items()}


def _address(value: str) -> str:
    # "rfc822; someone@example.com"
    return value.split(";", 1)[-1].strip().strip("<>").lower()


def parse_dsn(raw: bytes, secret: str) -> list[Bounce]:
    """The per-recipient outcomes of a DSN (empty for anything that is not one)."""
    if len(raw) > MAX_DSN_BYTES:
        return []
    message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    if message.get_content_type() != "multipart/report":
        return []
    entry_id = _verp_entry(message, secret)
    found: list[Bounce] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks: list[Any] = payload if isinstance(payload, list) else []
        for block in blocks[1:]:  # the first block is per-message, then one per recipient
            fields = _fields(block)
            status = fields.get("status", "").strip()
            if not STATUS_RE.match(status):
                continue
            found.append(
                Bounce(
                    recipient=_address(
                        fields.get("final-recipient", fields.get("original-recipient", ""))
                    ),
                    action=fields.get("action", "").strip().lower(),
                    status=status,
                    diagnostic=" ".join(fields.get("diagnostic-code", "").split())[:300],
                    entry_id=entry_id,
                )
            )
    return found


def _verp_entry(message: EmailMessage, secret: str) -> int | None:
    """The row named by the address the bounce was sent to (To / Delivered-To / X-Original-To)
    or, failing that, by the returned message's own headers."""
    candidates: list[str] = []
    for header in ("Delivered-To", "X-Original-To", "To"):
        candidates.extend(str(v) for v in message.get_all(header) or [])
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                candidates.extend(str(v) for v in inner[0].get_all("Return-Path") or [])
    for candidate in candidates:
        for address in re.findall(r"bounces\+[^\s<>,;@]+@[^\s<>,;]+", candidate, re.IGNORECASE):
            entry_id = compose.entry_of_verp(secret, address)
            if entry_id is not None:
                return entry_id
    return None


def apply(db: Database, bounces: list[Bounce]) -> int:
    """Mark hard bounces on their rows and suppress the addresses; how many rows changed."""
    changed = 0
    for bounce in bounces:
        if bounce.entry_id is None or not bounce.hard:
            continue
        with db.write() as session:
            detail = f"{bounce.status} {bounce.diagnostic}".strip()
            changed += service.record_bounce(session, bounce.entry_id, detail, hard=True)
    return changed


def read_mailbox(db: Database, settings: Settings, limit: int = 500) -> int:
    """Read unseen mail of the bounce mailbox (``SINCRO_MESSAGING_BOUNCE_IMAP_URL``,
    ``imap[s]://user:pass@host[:port]/FOLDER``), apply the DSNs, and mark each message seen
    once applied (a crash re-reads it; applying is idempotent)."""
    from imapclient import IMAPClient

    parts = urlsplit(settings.messaging_bounce_imap_url)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    ssl = parts.scheme == "imaps"
    changed = 0
    with IMAPClient(
        parts.hostname or "localhost", port=parts.port or (993 if ssl else 143), ssl=ssl, timeout=30
    ) as client:
        client.login(unquote(parts.username or ""), unquote(parts.password or ""))
        client.select_folder(folder)
        uids = client.search(["UNSEEN"])[:limit]
        for uid, data in client.fetch(uids, ["BODY.PEEK[]"]).items():
            raw = data.get(b"BODY[]") or b""
            changed += apply(db, parse_dsn(raw, settings.secret_key))
            client.add_flags([uid], [b"\\Seen"])
    return changed
