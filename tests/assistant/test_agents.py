"""The agents' side on both databases: two agents racing for one conversation (row locks),
"take the next" handing different conversations to concurrent takers, least-busy assignment
with presence and capacity, answering, handing back, closing with a rating, what the customer
is told (place, estimated wait, out of hours), and the live announcements in the outbox."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from sincro.assistant import agents, conversations, hours, live, queue
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.errors import Conflict, InvalidInput
from sincro.events import Event
from tests.assistant.people import closed_hours, make_agent, open_hours, queued, state_of


def race(db: Database, works: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each work in its own thread and write transaction, all released at once."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = db.write_retrying(works[index])
        except Exception as exc:  # the loser's Conflict is the point
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_agents_racing_for_one_conversation_one_wins(db: Database, settings: Settings) -> None:
    settings = open_hours(settings)
    ana, bruno = make_agent(db, "Ana"), make_agent(db, "Bruno")
    waiting = queued(db, settings)
    results = race(
        db,
        [
            lambda s: agents.take(s, settings, waiting, ana).agent_user_id,
            lambda s: agents.take(s, settings, waiting, bruno).agent_user_id,
        ],
    )
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "not waiting" in losers[0].message
    assert state_of(db, waiting) == ("agent", winners[0])
    with db.read() as session:
        notices = [m for m in conversations.transcript(session, waiting) if m.sender == "system"]
    assert len(notices) == 1  # one "X está com você", not two


def test_concurrent_take_next_hands_out_different_conversations(
    db: Database, settings: Settings
) -> None:
    settings = open_hours(settings)
    takers = [make_agent(db, name) for name in ("Ana", "Bruno", "Carla")]
    start = utcnow() - dt.timedelta(minutes=5)
    ids = [queued(db, settings, at=start + dt.timedelta(seconds=i)) for i in range(2)]

    def taker(agent: agents.Agent) -> Callable[[Any], Any]:
        return lambda s: getattr(agents.take_next(s, settings, agent), "id", None)

    results = race(db, [taker(agent) for agent in takers])
    taken = sorted(r for r in results if isinstance(r, int))
    assert taken == sorted(ids), results
    assert results.count(None) == 1  # the third found the queue empty


def test_assignment_goes_to_the_least_busy_present_agent_within_capacity(
    db: Database, settings: Settings
) -> None:
    settings = open_hours(settings, assistant_agent_capacity=2)
    busy = make_agent(db, "Bia")
    idle = make_agent(db, "Caio")
    make_agent(db, "Dora", present=False)  # never opened the inbox: not present
    away = make_agent(db, "Edu")
    with db.write() as session:
        agents.set_available(session, away.id, False)
    make_agent(db, "Flavia", role="admin")  # admins take by hand, the assigner skips them
    start = utcnow() - dt.timedelta(minutes=10)
    first = queued(db, settings, at=start)
    with db.write() as session:
        agents.take(session, settings, first, busy)
    ids = [queued(db, settings, at=start + dt.timedelta(minutes=i + 1)) for i in range(4)]

    with db.write() as session:
        handed = agents.assign_waiting(session, settings)
    # Caio (0 open) gets the oldest, then both have 1: the tie goes to whoever received one
    # longest ago (Bia), then Caio again; both are full at 2 and the last one waits
    assert handed == [(ids[0], idle.id), (ids[1], busy.id), (ids[2], idle.id)]
    assert state_of(db, ids[3]) == ("waiting_agent", None)
    with db.write() as session:
        assert agents.assign_waiting(session, settings) == []
    with db.read() as session:
        assert agents.busy_counts(session, [busy.id, idle.id]) == {busy.id: 2, idle.id: 2}

    stale = utcnow() + dt.timedelta(seconds=settings.assistant_agent_presence_seconds + 1)
    with db.write() as session:
        agents.close(session, ids[0], idle, "resolved")
        assert agents.assign_waiting(session, settings, now=stale) == []  # nobody seen lately
        assert agents.assign_waiting(session, settings) == [(ids[3], idle.id)]


def test_beat_sends_the_assignment_round_only_while_someone_waits(
    db: Database, settings: Settings
) -> None:
    """The round's gate (``sincro.beat``) is the round's own first read: a conversation
    waiting for a person; none waiting (or all handed over), no round."""
    from sincro.assistant.schedule import beat_entries, conversations_waiting

    settings = open_hours(settings, assistant_auto_assign=True)
    entry = beat_entries(settings)["assistant-assign"]
    assert entry["gate"] is conversations_waiting
    assert entry["schedule"] == settings.assistant_assign_every_seconds
    assert not conversations_waiting(db, settings)
    waiting = queued(db, settings)
    assert conversations_waiting(db, settings)
    agent = make_agent(db, "Gabi")
    with db.write() as session:
        assert agents.assign_waiting(session, settings) == [(waiting, agent.id)]
    assert not conversations_waiting(db, settings)


def test_capacity_bounds_taking_by_hand(db: Database, settings: Settings) -> None:
    settings = open_hours(settings)
    solo = make_agent(db, "Gil", capacity=1)
    first, second = queued(db, settings), queued(db, settings)
    with db.write() as session:
        agents.take(session, settings, first, solo)
        agents.take(session, settings, first, solo)  # taking one's own again is a no-op
    with pytest.raises(Conflict, match="capacity"), db.write() as session:
        agents.take(session, settings, second, solo)


def test_answer_hand_back_and_close_with_a_rating(db: Database, settings: Settings) -> None:
    settings = open_hours(settings)
    ana, bruno = make_agent(db, "Ana Souza"), make_agent(db, "Bruno")
    conversation_id = queued(db, settings)
    with pytest.raises(Conflict), db.write() as session:
        agents.answer(session, settings, conversation_id, ana, "Olá!")  # not taken yet
    with db.write() as session:
        agents.take(session, settings, conversation_id, ana)
        agents.answer(session, settings, conversation_id, ana, "  Olá! Como posso ajudar?  ")
    with pytest.raises(Conflict, match="another agent"), db.write() as session:
        agents.answer(session, settings, conversation_id, bruno, "Oi")
    for bad, field in (("", "text"), ("a\x00b", "text"), ("x" * 5000, "text")):
        with pytest.raises(InvalidInput) as caught, db.write() as session:
            agents.answer(session, settings, conversation_id, ana, bad)
        assert caught.value.field == field

    with db.write() as session:
        agents.hand_back(session, conversation_id, ana)
    assert state_of(db, conversation_id) == ("bot", ana.id)
    with db.write() as session:
        conversation = conversations.get(session, conversation_id, for_update=True)
        queue.enqueue(session, conversation, "complaint", settings)
        agents.take(session, settings, conversation_id, ana)
    with pytest.raises(InvalidInput) as caught, db.write() as session:
        agents.close(session, conversation_id, ana, "porque sim")
    assert caught.value.field == "reason"
    with db.write() as session:
        agents.close(session, conversation_id, ana, "resolved", ask_csat=True)
    with pytest.raises(Conflict, match="already closed"), db.write() as session:
        agents.close(session, conversation_id, ana, "resolved")

    with db.write() as session:  # the customer answers the rating question in the chat
        reply = conversations.post_customer(session, settings, conversation_id, "nota 4")
    assert reply.reply == "Obrigado pela sua avaliação!" and reply.state == "closed"
    with pytest.raises(Conflict, match="already rated"), db.write() as session:
        agents.record_csat(session, conversation_id, 5)
    with db.read() as session:
        conversation = conversations.get(session, conversation_id)
        rows = conversations.transcript(session, conversation_id)
        announced = session.scalars(
            select(Event.payload).where(Event.topic == live.CHANGE).order_by(Event.seq)
        ).all()
    assert (conversation.csat, conversation.close_reason) == (4, "resolved")
    assert [(m.sender, m.payload.get("event")) for m in rows] == [
        ("customer", None),
        ("system", "taken"),
        ("agent", None),
        ("system", "handed_back"),
        ("system", "taken"),
        ("system", "closed"),
        ("system", "csat_request"),
        ("customer", None),
        ("bot", "csat_recorded"),
    ]
    assert rows[1].text == "Ana, da nossa equipe, está com você agora."
    assert rows[2].text == "Olá! Como posso ajudar?" and rows[2].agent_user_id == ana.id
    # every change was announced (no text in the outbox), the last with the final seq
    assert all(set(p) == {"conversation_id", "seq", "state"} for p in announced)
    assert announced[-1] == {"conversation_id": conversation_id, "seq": 9, "state": "closed"}


def test_a_rating_is_only_taken_when_asked(db: Database, settings: Settings) -> None:
    settings = open_hours(settings)
    ana = make_agent(db, "Ana")
    conversation_id = queued(db, settings)
    with db.write() as session:
        agents.take(session, settings, conversation_id, ana)
        agents.close(session, conversation_id, ana, "resolved")
    with pytest.raises(Conflict, match="no rating"), db.write() as session:
        agents.record_csat(session, conversation_id, 5)
    with pytest.raises(InvalidInput), db.write() as session:
        agents.record_csat(session, conversation_id, 6)


def test_the_customer_is_told_the_place_and_an_estimated_wait(
    db: Database, settings: Settings
) -> None:
    settings = open_hours(settings)
    ana = make_agent(db, "Ana")
    now = utcnow()
    # two recent waits of 4 and 6 minutes: the median, 5 minutes, per place per agent
    for minutes in (4, 6):
        done = queued(db, settings, at=now - dt.timedelta(minutes=30))
        with db.write() as session:
            agents.take(session, settings, done, ana, now=now - dt.timedelta(minutes=30 - minutes))
            agents.close(session, done, ana, "resolved")
    first = queued(db, settings, at=now - dt.timedelta(seconds=20))
    second = queued(db, settings, at=now - dt.timedelta(seconds=10))
    with db.read() as session:
        notices = [
            queue.handoff_notice(session, conversations.get(session, i), settings, now)
            for i in (first, second)
        ]
    assert notices[0] == (
        "Vou te passar para uma pessoa da nossa equipe. Você é o próximo da fila. "
        "Tempo estimado de espera: cerca de 5 minutos."
    )
    assert notices[1] == (
        "Vou te passar para uma pessoa da nossa equipe. Há 1 pessoa na sua frente. "
        "Tempo estimado de espera: cerca de 10 minutos."
    )


def test_out_of_hours_the_customer_is_asked_to_leave_a_message(
    db: Database, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={
            "assistant_service_hours_weekdays": "08:00-20:00",
            "assistant_service_hours_saturday": "",
            "assistant_service_hours_sunday": "",
        }
    )
    friday_night = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)  # 20:30 in São Paulo
    conversation_id = queued(db, settings, at=friday_night)
    with db.read() as session:
        conversation = conversations.get(session, conversation_id)
        notice = queue.handoff_notice(session, conversation, settings, friday_night)
    assert conversation.reply_by_email
    assert notice == (
        "Nosso atendimento com pessoas está fechado agora e volta segunda às 8h. Deixe sua "
        "mensagem e seu e-mail aqui: vamos responder por e-mail assim que possível."
    )
    monday_morning = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)  # 08:00 local
    assert hours.is_open(settings, monday_morning)
    assert not hours.is_open(settings, monday_morning - dt.timedelta(seconds=1))
    assert hours.opening_phrase(settings, dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)) == (
        "hoje às 8h"
    )
    assert not hours.is_open(closed_hours(settings), monday_morning)
