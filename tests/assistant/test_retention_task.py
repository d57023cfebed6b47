"""The retention setting end to end: the beat's purge task reads
``SINCRO_ASSISTANT_RETENTION_DAYS`` and deletes conversations idle longer than that (with their
messages), keeps younger ones and those still waiting for a person, and runs on the beat every
``SINCRO_ASSISTANT_PURGE_EVERY_SECONDS``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from sincro.assistant import conversations, tasks
from sincro.assistant.models import Conversation, Message
from sincro.assistant.schedule import beat_entries
from sincro.config import Settings, get_settings, reset_settings
from sincro.db import Database, utcnow
from tests.assistant.people import queued


def _idle(db: Database, days: int) -> int:
    with db.write() as session:
        conversation, _ = conversations.start(session, channel="web")
        conversations.append(session, conversation, "customer", "oi", intent="saudacao")
        conversation.last_message_at = utcnow() - dt.timedelta(days=days)
        return conversation.id


def _alive(db: Database, ids: list[int]) -> list[int]:
    with db.read() as session:
        found = set(session.scalars(select(Conversation.id).where(Conversation.id.in_(ids))))
        return [i for i in ids if i in found]


def test_the_purge_task_follows_the_retention_setting(
    db: Database, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_ASSISTANT_RETENTION_DAYS", "30")
    monkeypatch.setenv("SINCRO_ASSISTANT_PURGE_EVERY_SECONDS", "600")
    reset_settings()
    entry = beat_entries(get_settings())["assistant-purge"]
    assert (entry["task"], entry["schedule"]) == ("sincro.assistant.purge", 600.0)
    old, young = _idle(db, 40), _idle(db, 20)
    waiting = queued(db, settings, at=utcnow() - dt.timedelta(days=40))
    with db.write() as session:
        row = session.get(Conversation, waiting)
        assert row is not None
        row.last_message_at = utcnow() - dt.timedelta(days=40)
    assert tasks.purge() == 1
    assert _alive(db, [old, young, waiting]) == [young, waiting]
    with db.read() as session:
        assert session.scalar(select(func.count()).where(Message.conversation_id == old)) == 0
    monkeypatch.setenv("SINCRO_ASSISTANT_RETENTION_DAYS", "10")
    reset_settings()
    assert tasks.purge() == 1
    assert _alive(db, [young, waiting]) == [waiting]  # a person still owes it an answer
    reset_settings()
