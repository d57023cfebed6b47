"""The conversation seam: messages are numbered and stored with the reply, a request for a
person puts the conversation in the queue, and later messages wait for that person."""

from __future__ import annotations

from sincro.assistant import conversations, queue
from sincro.config import Settings
from sincro.db import Database


def test_a_request_for_a_person_queues_the_conversation(db: Database, settings: Settings) -> None:
    with db.write() as session:
        first, token = conversations.start(session, channel="api")
        second, _ = conversations.start(session, channel="api")
        ids = (first.id, second.id)
    assert conversations.token_hash(token) != token
    with db.write() as session:
        reply = conversations.post_customer(session, settings, ids[0], "quero falar com atendente")
    assert reply.state == "waiting_agent" and [a.type for a in reply.actions] == ["handoff"]
    with db.write() as session:
        conversations.post_customer(session, settings, ids[1], "quero falar com um humano")
        later = conversations.post_customer(session, settings, ids[0], "alguem ai?")
    assert later.reply == "" and later.state == "waiting_agent" and later.seq == 3
    with db.read() as session:
        senders = [m.sender for m in conversations.transcript(session, ids[0])]
        waiting = [conversations.get(session, i) for i in ids]
        assert [queue.position(session, c) for c in waiting] == [1, 2]
    assert senders == ["customer", "bot", "customer"]
    assert waiting[0].handoff_reason == "asked_for_person"
