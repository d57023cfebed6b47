"""The api side: the intent classifier trains in a background thread when the process starts
(``SINCRO_ASSISTANT_TRAIN_AT_START``), so the first customer does not wait the second or two
of training; a request that comes earlier waits for that same training (one per process).
With ``SINCRO_ASSISTANT_MODEL_CACHE`` the fitted model is cached in the var dir and a process
that starts again loads it instead (:mod:`sincro.assistant.model_cache`)."""

from __future__ import annotations

import logging
import threading
import time

from sincro.assistant.channels import runtime as channels
from sincro.assistant.classifier import classifier, use_cache
from sincro.assistant.widget import runtime as widget
from sincro.deps import AppState

log = logging.getLogger("sincro.assistant.runtime")


def _train() -> None:
    started = time.perf_counter()
    try:
        model = classifier()
    except Exception:  # a broken data file: the first request reports it
        log.exception("assistant classifier failed to train")
    else:
        how = "loaded from the cache" if getattr(model, "trained", True) is False else "trained"
        log.info("assistant classifier %s in %.2f s", how, time.perf_counter() - started)


def install(state: AppState) -> None:
    from sincro.assistant import fast, live

    widget.install(state)  # public endpoints' body caps
    channels.install(state)  # channel configuration checked, inbound body cap
    live.install(state)  # wakes the live conversation streams (agents' and customers')
    fast.install(state)  # customers' messages ahead of FastAPI's stack
    settings = state.settings
    use_cache(settings.var_dir if settings.assistant_model_cache else None)

    async def start() -> None:
        if state.settings.assistant_train_at_start:
            threading.Thread(target=_train, name="sincro-assistant-train", daemon=True).start()

    state.on_start.append(start)
