"""The widget's per-process setup in the api: the public routes' body caps from settings."""

from __future__ import annotations

from sincro.assistant.widget.endpoints import PUBLIC_BODIES
from sincro.bodylimits import declare_cap
from sincro.deps import AppState


def install(state: AppState) -> None:
    for method, path in PUBLIC_BODIES:
        declare_cap(method, path, state.settings.assistant_public_body_max_bytes)
