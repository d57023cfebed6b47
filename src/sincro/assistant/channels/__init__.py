"""Channel adapters: how a messaging platform (WhatsApp-like: Meta's Cloud API, Twilio,
a BSP, an in-house gateway) talks to the assistant.

An adapter is two functions (:class:`ChannelAdapter`): turn the platform's signed inbound
webhook into ``(external_ref, text)``, and turn the bot's reply into the outbound HTTP request
the platform expects. Sincro does the rest: verifies nothing reaches the seam unsigned, maps
``external_ref`` (the customer's phone, a chat id) to its conversation, answers through
:func:`sincro.assistant.conversations.post_customer`, and POSTs the reply from a Celery task
through :mod:`sincro.safe_http` with retries. ``webhook`` is the generic adapter (see
:mod:`.webhook`); a platform-specific one implements the same protocol and is added to
:data:`KINDS`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Inbound:
    """One customer message from a platform: who (the platform's id of the person), what,
    and the platform's message id when it has one (a redelivery of it is answered once)."""

    external_ref: str
    text: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One HTTP request to the platform: body and headers (the URL is the channel's)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    def parse_inbound(self, body: bytes, headers: Mapping[str, str], now: float) -> Inbound:
        """Verify the request's signature and read it: :class:`sincro.errors.Unauthorized`
        for a bad or stale signature, :class:`sincro.errors.InvalidInput` naming the field
        for a bad body."""
        ...

    def outbound(self, external_ref: str, message: Mapping[str, Any], now: float) -> Outbound:
        """The request that delivers ``message`` (``text``, ``actions``, ``conversation_id``,
        ``seq``, ``state``) to ``external_ref``."""
        ...
