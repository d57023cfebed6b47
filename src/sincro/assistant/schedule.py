"""The assistant's beat entries: the assignment round of waiting conversations (sent only when
a conversation waits for a person), the retention purge and, with channels configured, the
sweep of undelivered channel replies."""

from __future__ import annotations

from typing import Any

from sincro.config import Settings
from sincro.db import Database


def conversations_waiting(db: Database, settings: Settings) -> bool:
    """The assignment round's gate (:mod:`sincro.beat`): the task's own first read."""
    from sincro.assistant import agents

    with db.read() as session:
        return bool(agents.waiting(session, limit=1))


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {
        "assistant-purge": {
            "task": "sincro.assistant.purge",
            "schedule": settings.assistant_purge_every_seconds,
        }
    }
    if settings.assistant_auto_assign:
        entries["assistant-assign"] = {
            "task": "sincro.assistant.assign",
            "schedule": settings.assistant_assign_every_seconds,
            "gate": conversations_waiting,
        }
    if settings.assistant_channels:
        entries["assistant-channel-redeliver"] = {
            "task": "sincro.assistant.redeliver_replies",
            "schedule": settings.assistant_channel_redeliver_every_seconds,
        }
    return entries
