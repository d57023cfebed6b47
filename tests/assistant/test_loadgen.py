"""The assistant load benchmark's generator (``bench/assistant_loadgen.py``) on a tiny run
against the app in process: what it counts matches what the API stored, a handoff makes the
customer start a new conversation, and a stored row missing is reported as lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx
import pytest
from bench.assistant_loadgen import LoadGenerator, Tally, verify
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.service import Role
from sincro.app import create_app
from sincro.assistant.models import Message
from sincro.config import Settings
from sincro.db import Database
from tests.assistant import world
from tests.factories import make_key

pytestmark = pytest.mark.one_database  # counting does not depend on the database


def _messages(i: int) -> Iterable[str]:
    if i == 0:  # customer 0 asks for a person first: a new conversation for the next message
        yield "quero falar com um atendente"
    while True:
        yield "tem galaxy a05 em niteroi?"


async def _drive(app: object, key: str) -> Tally:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"X-API-Key": key}
    ) as client:
        generator = LoadGenerator(client, _messages, conversations=5, interval=0.1, duration=0.2)
        return await generator.run(await generator.create_all(concurrency=5))


def test_counts_match_what_was_stored(db: Database, settings: Settings) -> None:
    world.seed(db)
    with db.write() as s:
        key = make_key(s, Role.channel)
    with TestClient(create_app(settings)) as client:  # the lifespan runs: trained, wired
        tally = asyncio.run(_drive(client.app, key))
    assert tally.errors == {}
    assert tally.attempts == len(tally.sent) == 10
    assert tally.restarts == 1 and tally.handoffs == {"asked_for_person": 1}
    assert len(tally.conversation_ids) == 6
    assert all(m.reply and m.seconds >= 0 for m in tally.sent)
    with db.read() as s:
        rows = [
            (m.conversation_id, m.seq, m.sender, m.text)
            for m in s.scalars(
                select(Message).where(Message.conversation_id.in_(tally.conversation_ids))
            )
        ]
    verdict = verify(tally, rows)
    assert (verdict.customer_rows, verdict.acknowledged, verdict.lost) == (10, 10, 0)
    assert verdict.unanswered_stored == 0
    # a lost customer message and a lost reply are both seen
    first = tally.sent[0]
    gone = {(first.conversation_id, first.seq), (first.conversation_id, first.seq + 1)}
    dropped = [r for r in rows if (r[0], r[1]) not in gone]
    damaged = verify(tally, dropped)
    assert (damaged.missing_customer, damaged.missing_reply) == (1, 1)
