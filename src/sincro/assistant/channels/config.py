"""The configured channels (``SINCRO_ASSISTANT_CHANNELS``, a JSON list)::

    [{"name": "whatsapp", "kind": "webhook", "secret": "<32+ random characters>",
      "outbound_url": "https://gateway.example/sincro/outbound"}]

``name`` is the path segment of ``POST /v1/assistant/channels/{name}/inbound`` and the
conversations' ``channel``; ``secret`` signs both directions; ``outbound_url`` is where replies
go, checked by :mod:`sincro.safe_http` (https unless ``SINCRO_FEED_WEBHOOK_ALLOW_HTTP``, public
addresses unless listed in ``SINCRO_FEED_WEBHOOK_ALLOWED_HOSTS``) when read and again at every
delivery."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from sincro import safe_http
from sincro.assistant.channels import ChannelAdapter
from sincro.assistant.channels.webhook import WebhookAdapter
from sincro.config import Settings
from sincro.errors import InvalidInput, invalid_input_from
from sincro.feed import service as feed

RESERVED = ("web", "api")  # the widget's and the API's conversations


class ChannelConfig(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,19}$")
    kind: Literal["webhook"] = "webhook"
    secret: str = Field(min_length=32, max_length=256)
    outbound_url: str = Field(max_length=2000)

    def adapter(self, settings: Settings) -> ChannelAdapter:
        return WebhookAdapter(self.secret, settings.assistant_channel_signature_tolerance_seconds)


_channels = TypeAdapter(list[ChannelConfig])


def configured(settings: Settings) -> dict[str, ChannelConfig]:
    """The channels by name; a bad entry raises :class:`sincro.errors.InvalidInput` naming
    it (``SINCRO_ASSISTANT_CHANNELS[0].secret``), checked when the api starts."""
    prefix = "SINCRO_ASSISTANT_CHANNELS"
    try:
        channels = _channels.validate_python(settings.assistant_channels)
    except ValidationError as exc:
        raise invalid_input_from(list(exc.errors()), prefix=prefix) from None
    found: dict[str, ChannelConfig] = {}
    for i, channel in enumerate(channels):
        where = f"{prefix}[{i}]"
        if channel.name in RESERVED or channel.name in found:
            raise InvalidInput("reserved or repeated channel name", field=f"{where}.name")
        # the URL's form, and a literal private address, now; a name's addresses at delivery
        safe_http.parse(
            channel.outbound_url, feed.webhook_policy(settings), f"{where}.outbound_url"
        )
        found[channel.name] = channel
    return found
