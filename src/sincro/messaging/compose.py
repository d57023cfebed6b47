"""Turning a ledger row into the message that goes over SMTP: stable Message-ID, VERP
Return-Path, signed one-click unsubscribe link (RFC 8058), attachments, DKIM.

* **Message-ID** ``<m.<campaign>.<row>.<mac>@<sender domain>>``: derived from the ledger row,
  which is unique per (campaign, recipient), so a resend after a crash is the *same* message
  (receivers and the benchmark's sink see one Message-ID per recipient).
* **Return-Path** (the envelope sender) ``bounces+<row>-<mac>@<bounce domain>`` when
  ``SINCRO_MESSAGING_BOUNCE_DOMAIN`` is set: a bounce names the row it belongs to, and the
  MAC stops forged bounces from suppressing addresses.
* **Unsubscribe token**: itsdangerous, signed with the installation secret, carrying the
  customer, the campaign and the purpose, valid ``messaging_unsubscribe_max_age_days``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sincro.config import Settings
from sincro.mail import RawMessage, _domain_of, wire_message
from sincro.messaging import templates as tpl
from sincro.messaging.templates import Rendered

if TYPE_CHECKING:
    from sincro.messaging.models import LedgerEntry, TemplateVersion

log = logging.getLogger("sincro.messaging")
UNSUBSCRIBE_SALT = "sincro.messaging.unsubscribe"
VERP_RE = re.compile(r"^bounces\+(\d+)-([0-9a-f]{10})@", re.IGNORECASE)


def _mac(secret: str, what: str) -> str:
    return hmac.new(secret.encode(), what.encode(), hashlib.sha256).hexdigest()[:10]


def message_id(secret: str, campaign_id: int, entry_id: int, sender: str) -> str:
    mac = _mac(secret, f"msgid:{entry_id}")
    return f"<m.{campaign_id}.{entry_id}.{mac}@{_domain_of(sender)}>"


def verp_address(secret: str, entry_id: int, domain: str) -> str:
    return f"bounces+{entry_id}-{_mac(secret, f'verp:{entry_id}')}@{domain}"


def entry_of_verp(secret: str, address: str) -> int | None:
    """The ledger row a VERP address names, or None (not ours, or a forged MAC)."""
    found = VERP_RE.match(address.strip().strip("<>"))
    if not found:
        return None
    entry_id = int(found.group(1))
    if not hmac.compare_digest(found.group(2).lower(), _mac(secret, f"verp:{entry_id}")):
        return None
    return entry_id


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    customer_id: int
    campaign_id: int
    purpose: str


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(secret: str, customer_id: int, campaign_id: int, purpose: str) -> str:
    return _serializer(secret).dumps([customer_id, campaign_id, purpose])


def read_unsubscribe_token(secret: str, token: str, max_age_seconds: int) -> UnsubscribeClaim:
    """The claim of a genuine, unexpired token; ValueError (with a pt-BR reason) otherwise."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise ValueError("Este link de descadastro expirou.") from None
    except BadSignature:
        raise ValueError("Este link de descadastro não é válido.") from None
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(isinstance(x, int) for x in data[:2])
        or not isinstance(data[2], str)
    ):
        raise ValueError("Este link de descadastro não é válido.")
    return UnsubscribeClaim(int(data[0]), int(data[1]), str(data[2]))


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.messaging_public_url.rstrip('/')}/u/{token}"


@cache
def _dkim_key(path: str) -> bytes:
    return Path(path).read_bytes()


def dkim_configured(settings: Settings) -> bool:
    return bool(
        settings.messaging_dkim_selector
        and settings.messaging_dkim_domain
        and settings.messaging_dkim_private_key_path
    )


def dkim_sign(message: RawMessage, settings: Settings) -> RawMessage:
    """The message with a ``DKIM-Signature`` (relaxed/relaxed, rsa-sha256) over the headers
    receivers check, prepended to its wire form."""
    import dkim

    key = _dkim_key(str(settings.messaging_dkim_private_key_path))
    head = message.data.split(b"\r\n\r\n", 1)[0].lower()
    headers = [
        h
        for h in (
            b"From",
            b"To",
            b"Subject",
            b"Date",
            b"Message-ID",
            b"Reply-To",
            b"List-Unsubscribe",
            b"List-Unsubscribe-Post",
            b"MIME-Version",
            b"Content-Type",
        )
        if head.startswith(h.lower() + b":") or b"\r\n" + h.lower() + b":" in head
    ]
    signature = dkim.sign(
        message.data,
        settings.messaging_dkim_selector.encode(),
        settings.messaging_dkim_domain.encode(),
        key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=headers,
        linesep=b"\r\n",
    )
    return replace(message, data=signature + message.data)


def build(
    *,
    settings: Settings,
    rendered: Rendered,
    sender: str,
    reply_to: str | None,
    to: str,
    message_id_value: str,
    unsubscribe: str | None,
    attachments: list[dict[str, Any]] | None = None,
) -> RawMessage:
    """The message for one ledger row (``unsubscribe``: the one-click URL, for marketing), in
    wire form (the bulk path: see :func:`sincro.mail.wire_message`)."""
    headers: dict[str, str] = {}
    if unsubscribe:
        targets = [f"<{unsubscribe}>"]
        if settings.messaging_unsubscribe_mailto:
            targets.append(f"<mailto:{settings.messaging_unsubscribe_mailto}?subject=unsubscribe>")
        headers["List-Unsubscribe"] = ", ".join(targets)
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = wire_message(
        sender=sender,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=reply_to,
        headers=headers,
        message_id=message_id_value,
        attachments=[
            (base64.b64decode(item["content"]), item["content_type"], item["filename"])
            for item in attachments or ()
        ],
    )
    if dkim_configured(settings):
        message = dkim_sign(message, settings)
    return message


def row_message(
    settings: Settings, campaign: Any, row: LedgerEntry, version: TemplateVersion
) -> RawMessage:
    """What a worker sends for one ledger row of ``campaign`` (its ``name``, ``sender`` and
    ``reply_to``): the template version rendered for the row's recipient, with the row's
    Message-ID and, for marketing, its signed unsubscribe link. Raises
    :class:`~sincro.messaging.templates.TemplateProblem` (or ``ValueError``) when the row
    cannot be rendered. The benchmarks' sequential sender builds with this too."""
    secret, sender = settings.secret_key, campaign.sender
    unsubscribe = None
    if row.purpose == "marketing":
        token = unsubscribe_token(secret, row.customer_id, row.campaign_id, row.purpose)
        unsubscribe = unsubscribe_url(settings, token)
    context: dict[str, Any] = {
        "customer": tpl.customer_context(
            name=row.name, city=row.city, state=row.state, plan=row.plan
        ),
        "today": dt.datetime.now(ZoneInfo(row.time_zone)).date(),
        "campaign": {"name": campaign.name},
        "unsubscribe_url": unsubscribe or "",
        "time_zone": row.time_zone,
        **(row.context or {}),
    }
    rendered = tpl.render(
        {"subject": version.subject, "html": version.html, "text": version.text}, context
    )
    return build(
        settings=settings,
        rendered=rendered,
        sender=sender,
        reply_to=campaign.reply_to,
        to=row.email,
        message_id_value=message_id(secret, row.campaign_id, row.id, sender),
        unsubscribe=unsubscribe,
        attachments=row.attachments,
    )
