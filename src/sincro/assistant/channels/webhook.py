"""The generic webhook adapter: JSON in, JSON out, both signed with the channel's secret.

Inbound (``POST /v1/assistant/channels/{name}/inbound``)::

    X-Sincro-Timestamp: 1767225600
    X-Sincro-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    {"from": "+5511987654321", "text": "oi, tem iphone 15?", "message_id": "wamid.HBg…"}

The timestamp must be within ``SINCRO_ASSISTANT_CHANNEL_SIGNATURE_TOLERANCE_SECONDS`` of the
server's clock (a captured request cannot be replayed later) and ``message_id``, when given,
is answered once. Outbound (to the channel's ``outbound_url``), signed the same way::

    {"to": "+5511987654321", "text": "…", "actions": [...], "conversation_id": 7, "seq": 2,
     "state": "bot"}

A platform that signs differently (Meta's ``X-Hub-Signature-256``, Twilio's URL-based
signature) gets a small adapter of its own implementing :class:`ChannelAdapter`; or a gateway
in front of it translates to this format."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from sincro.assistant.channels import Inbound, Outbound
from sincro.assistant.schemas import CustomerText
from sincro.errors import InvalidInput, Unauthorized, invalid_input_from
from sincro.inputs import PlainText

TIMESTAMP = "x-sincro-timestamp"
SIGNATURE = "x-sincro-signature"
BAD_SIGNATURE = "missing, invalid or expired signature"


class InboundBody(BaseModel):
    from_: PlainText = Field(alias="from", min_length=1, max_length=120)
    text: CustomerText = Field(min_length=1)
    message_id: PlainText | None = Field(default=None, min_length=1, max_length=200)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class WebhookAdapter:
    def __init__(self, secret: str, tolerance_seconds: float = 300.0) -> None:
        self.secret = secret
        self.tolerance = tolerance_seconds

    def verify(self, body: bytes, headers: Mapping[str, str], now: float) -> None:
        timestamp = headers.get(TIMESTAMP, "")
        presented = headers.get(SIGNATURE, "")
        if not timestamp.isdigit() or len(timestamp) > 12 or not presented:
            raise Unauthorized(BAD_SIGNATURE, field="X-Sincro-Signature")
        expected = sign(self.secret, timestamp, body)
        # several v1= values may be sent (a secret being rotated): any one may match
        candidates = [part.strip() for part in presented.split(",")][:4]
        good = any(hmac.compare_digest(expected, c) for c in candidates)
        if not good or abs(now - int(timestamp)) > self.tolerance:
            raise Unauthorized(BAD_SIGNATURE, field="X-Sincro-Signature")

    def parse_inbound(self, body: bytes, headers: Mapping[str, str], now: float) -> Inbound:
        self.verify(body, headers, now)
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("body: not a JSON document", field="body") from None
        try:
            parsed = InboundBody.model_validate(document)
        except ValidationError as exc:
            raise invalid_input_from(list(exc.errors())) from None
        return Inbound(parsed.from_, parsed.text, parsed.message_id)

    def outbound(self, external_ref: str, message: Mapping[str, Any], now: float) -> Outbound:
        body = json.dumps({"to": external_ref, **message}, ensure_ascii=False).encode()
        timestamp = str(int(now))
        return Outbound(
            body,
            {
                "Content-Type": "application/json",
                "X-Sincro-Timestamp": timestamp,
                "X-Sincro-Signature": sign(self.secret, timestamp, body),
            },
        )
