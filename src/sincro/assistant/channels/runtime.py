"""The channels' per-process setup in the api: the configuration is checked at start (a bad
``SINCRO_ASSISTANT_CHANNELS`` stops the api with the entry named) and the inbound route's
body cap comes from settings."""

from __future__ import annotations

from sincro.assistant.channels.config import configured
from sincro.assistant.channels.endpoints import INBOUND
from sincro.bodylimits import declare_cap
from sincro.deps import AppState


def install(state: AppState) -> None:
    configured(state.settings)
    declare_cap("POST", INBOUND, state.settings.assistant_channel_body_max_bytes)
