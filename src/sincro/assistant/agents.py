"""The agents' side of a conversation: take (or be assigned) one from the queue, answer, hand
it back to the bot, close it with a reason and optionally ask the customer's rating (CSAT).

**Locks.** Every change locks the conversation row first (``SELECT … FOR UPDATE``; SQLite's
single writer does the same) and checks its state under the lock, so two agents can never take
the same conversation: the second sees ``agent`` and gets :class:`~sincro.errors.Conflict`.
"Take the next" and the assigner pick with ``FOR UPDATE SKIP LOCKED``, so concurrent takers
get different conversations instead of queueing on one row. Capacity is checked with the
taking agent's ``assistant_agents`` row locked, and the assigner locks every present agent's
row (in id order) before counting, so concurrent assigners never overfill an agent.

**Out of hours** (``reply_by_email``, set by :func:`sincro.assistant.queue.enqueue`), an
agent's answer also goes out by e-mail through messaging's transactional sender (consent for
``service`` e-mail and the suppression list apply): to the identified customer, or to the
known customer whose e-mail the customer wrote in the chat. An address nobody registered is
not mailed: the chat is unauthenticated, and mailing any address typed into it would let
anyone make Sincro write to strangers.

Every change publishes :func:`sincro.assistant.live.announce` in its transaction. On a
messaging channel's conversation (WhatsApp-like, :mod:`sincro.assistant.channels`) every
message written here also goes out to the platform through the channel's adapter, like the
bot's replies (:func:`sincro.assistant.channels.service.send_later`: after the commit, retried,
once per message)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sincro.access import service as access
from sincro.assistant import live
from sincro.assistant.agent_models import AgentStatus
from sincro.assistant.channels import service as channels
from sincro.assistant.conversations import Reply, append, draft, get, store, transcript
from sincro.assistant.entities import EMAIL_RE
from sincro.assistant.models import Conversation, Message
from sincro.config import Settings
from sincro.db import utcnow
from sincro.errors import Conflict, Forbidden, InvalidInput, NotFound
from sincro.text_pt import is_valid_email

AGENT_ROLES = ("agent", "admin")  # console roles that may answer customers
ASSIGNABLE_ROLE = "agent"  # who the assigner hands conversations to
CLOSE_REASONS: dict[str, str] = {
    "resolved": "Resolvido",
    "no_reply": "Cliente não respondeu",
    "answered_by_email": "Respondido por e-mail",
    "duplicate": "Conversa duplicada",
    "out_of_scope": "Fora do escopo",
    "abuse": "Abuso ou spam",
}
CSAT_QUESTION = (
    "Como você avalia este atendimento? Responda com uma nota de 1 (muito ruim) a 5 (ótimo)."
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CSAT_ANSWER = re.compile(r"^\s*(?:nota\s*:?\s*)?([1-5])\s*(?:/\s*5|estrelas?)?\s*[.!]?\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Agent:
    """The console user acting (from the console session)."""

    id: int
    name: str
    role: str

    @property
    def first_name(self) -> str:
        return (self.name.split() or ["Atendente"])[0]


def agent_of(session: Session, user_id: int) -> Agent:
    """The active console user ``user_id`` if their role may answer customers."""
    user = access.users_by_id(session, [user_id]).get(user_id)
    if user is None or not user.active:
        raise NotFound(f"console user {user_id} not found")
    if user.role not in AGENT_ROLES:
        raise Forbidden("only agents and admins answer customers")
    return Agent(user.id, user.name, user.role)


# --- presence and capacity ---------------------------------------------------------------------


def status_of(session: Session, user_id: int, *, lock: bool = False) -> AgentStatus:
    """The agent's presence row, made on first use (available, never seen)."""
    query = select(AgentStatus).where(AgentStatus.user_id == user_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        try:
            with session.begin_nested():
                session.add(AgentStatus(user_id=user_id, available=True))
        except IntegrityError:  # made by a concurrent first use
            pass
        row = session.scalar(query.with_for_update() if lock else query)
        assert row is not None
    return row


def set_available(session: Session, user_id: int, available: bool) -> None:
    status_of(session, user_id, lock=True).available = available


def touch(session: Session, user_id: int, now: dt.datetime | None = None) -> None:
    """The agent's inbox is open now (they count as present for a while)."""
    done = session.execute(
        update(AgentStatus)
        .where(AgentStatus.user_id == user_id)
        .values(last_seen_at=now or utcnow())
    )
    if not getattr(done, "rowcount", 0):
        status_of(session, user_id).last_seen_at = now or utcnow()


def capacity_of(status: AgentStatus, settings: Settings) -> int:
    return status.capacity if status.capacity is not None else settings.assistant_agent_capacity


def busy_counts(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """Open conversations (state ``agent``) per agent."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(Conversation.agent_user_id, func.count())
        .where(Conversation.state == "agent", Conversation.agent_user_id.in_(list(user_ids)))
        .group_by(Conversation.agent_user_id)
    )
    counts = {user_id: 0 for user_id in user_ids}
    counts.update({int(user_id): int(n) for user_id, n in rows if user_id is not None})
    return counts


def present_agents(
    session: Session, settings: Settings, now: dt.datetime | None = None, *, lock: bool = False
) -> list[AgentStatus]:
    """Agents (role ``agent``) available and seen within the presence window, by id."""
    since = (now or utcnow()) - dt.timedelta(seconds=settings.assistant_agent_presence_seconds)
    query = (
        select(AgentStatus)
        .where(
            AgentStatus.user_id.in_(access.active_user_ids(session, ASSIGNABLE_ROLE)),
            AgentStatus.available.is_(True),
            AgentStatus.last_seen_at >= since,
        )
        .order_by(AgentStatus.user_id)
    )
    if lock:
        query = query.with_for_update(of=AgentStatus)
    return list(session.scalars(query))


# --- the queue ---------------------------------------------------------------------------------


def waiting(session: Session, limit: int = 200) -> list[Conversation]:
    """Conversations waiting for a person, oldest first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.state == "waiting_agent")
            .order_by(Conversation.queued_at, Conversation.id)
            .limit(limit)
        )
    )


def _next_waiting(session: Session) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(Conversation.state == "waiting_agent")
        .order_by(Conversation.queued_at, Conversation.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _say(
    session: Session,
    conversation: Conversation,
    sender: str,
    text: str,
    *,
    payload: dict[str, object],
    agent_user_id: int,
    at: dt.datetime | None,
) -> Message:
    """One message of the agents' side: stored, and queued for the customer's messaging
    platform when the conversation came from one (the widget and the API read it instead)."""
    message = append(
        session, conversation, sender, text, payload=payload, agent_user_id=agent_user_id, at=at
    )
    if channels.from_a_channel(conversation):
        channels.send_later(session, conversation.id, message.seq)
    return message


def _give(session: Session, conversation: Conversation, agent: Agent, now: dt.datetime) -> None:
    conversation.state = "agent"
    conversation.agent_user_id = agent.id
    conversation.taken_at = now
    _say(
        session,
        conversation,
        "system",
        f"{agent.first_name}, da nossa equipe, está com você agora.",
        payload={"event": "taken", "agent": agent.first_name},
        agent_user_id=agent.id,
        at=now,
    )
    live.announce(session, conversation, queue_moved=True)


def _check_capacity(session: Session, settings: Settings, agent: Agent) -> None:
    status = status_of(session, agent.id, lock=True)
    limit = capacity_of(status, settings)
    if busy_counts(session, [agent.id])[agent.id] >= limit:
        raise Conflict(
            f"you already answer {limit} conversations (your capacity): close one first",
            field="capacity",
        )


def take(
    session: Session,
    settings: Settings,
    conversation_id: int,
    agent: Agent,
    now: dt.datetime | None = None,
) -> Conversation:
    """``agent`` takes a waiting conversation (:class:`Conflict` when it is not waiting any
    more: another agent was first). Taking one already yours is a no-op."""
    conversation = get(session, conversation_id, for_update=True)
    if conversation.state == "agent" and conversation.agent_user_id == agent.id:
        return conversation
    if conversation.state != "waiting_agent":
        raise Conflict(
            f"conversation {conversation_id} is not waiting for a person "
            f"(state {conversation.state})",
            field="conversation",
        )
    _check_capacity(session, settings, agent)
    _give(session, conversation, agent, now or utcnow())
    return conversation


def take_next(
    session: Session, settings: Settings, agent: Agent, now: dt.datetime | None = None
) -> Conversation | None:
    """``agent`` takes the oldest waiting conversation nobody else is taking (None: empty)."""
    _check_capacity(session, settings, agent)
    conversation = _next_waiting(session)
    if conversation is not None:
        _give(session, conversation, agent, now or utcnow())
    return conversation


def assign_waiting(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 100
) -> list[tuple[int, int]]:
    """Hand waiting conversations, oldest first, to present agents with room, least busy
    first (ties: the one who received a conversation longest ago, then the lower id).
    Returns ``(conversation_id, agent_user_id)`` pairs."""
    now = now or utcnow()
    present = present_agents(session, settings, now, lock=True)
    if not present:
        return []
    ids = [status.user_id for status in present]
    counts = busy_counts(session, ids)
    room = {s.user_id: capacity_of(s, settings) - counts[s.user_id] for s in present}
    last_given = dict(
        session.execute(
            select(Conversation.agent_user_id, func.max(Conversation.taken_at))
            .where(Conversation.agent_user_id.in_(ids))
            .group_by(Conversation.agent_user_id)
        ).all()
    )
    users = access.users_by_id(session, ids)
    assigned: list[tuple[int, int]] = []
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    while len(assigned) < limit:
        candidates = [user_id for user_id in ids if room[user_id] > 0]
        if not candidates:
            break
        conversation = _next_waiting(session)
        if conversation is None:
            break
        chosen = min(candidates, key=lambda u: (counts[u], last_given.get(u) or epoch, u))
        user = users[chosen]
        _give(session, conversation, Agent(user.id, user.name, user.role), now)
        counts[chosen] += 1
        room[chosen] -= 1
        last_given[chosen] = now
        assigned.append((conversation.id, chosen))
    return assigned


# --- answering, handing back, closing ----------------------------------------------------------


def clean_text(text: str, settings: Settings, field: str = "text") -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("write a message", field=field)
    if len(text) > settings.assistant_max_text_chars:
        raise InvalidInput(f"at most {settings.assistant_max_text_chars} characters", field=field)
    found = _CONTROL.search(text)
    if found:
        raise InvalidInput(f"control character at {found.start()}", field=field)
    return text


def _own(conversation: Conversation, agent: Agent) -> None:
    if conversation.state != "agent":
        raise Conflict(
            f"conversation {conversation.id} is not with a person (state {conversation.state})",
            field="conversation",
        )
    if conversation.agent_user_id != agent.id and agent.role != "admin":
        raise Conflict(
            f"conversation {conversation.id} is with another agent", field="conversation"
        )


def answer(
    session: Session,
    settings: Settings,
    conversation_id: int,
    agent: Agent,
    text: str,
    now: dt.datetime | None = None,
) -> Message:
    """The agent's message to the customer (sender ``agent``); e-mailed when the conversation
    was queued out of hours (the result in the message's ``payload["email"]``)."""
    text = clean_text(text, settings)
    conversation = get(session, conversation_id, for_update=True)
    _own(conversation, agent)
    message = _say(
        session,
        conversation,
        "agent",
        text,
        payload={"agent": agent.first_name},
        agent_user_id=agent.id,
        at=now,
    )
    if conversation.reply_by_email:
        sent = mail_answer(session, conversation, message, agent)
        message.payload = {**message.payload, "email": sent}
    live.announce(session, conversation)
    return message


def hand_back(
    session: Session, conversation_id: int, agent: Agent, now: dt.datetime | None = None
) -> Conversation:
    """Back to the bot (state ``bot``); the customer is told."""
    conversation = get(session, conversation_id, for_update=True)
    _own(conversation, agent)
    conversation.state = "bot"
    _say(
        session,
        conversation,
        "system",
        "Você voltou a falar com o assistente virtual. Se precisar, é só pedir uma pessoa.",
        payload={"event": "handed_back"},
        agent_user_id=agent.id,
        at=now,
    )
    live.announce(session, conversation)
    return conversation


def close(
    session: Session,
    conversation_id: int,
    agent: Agent,
    reason: str,
    *,
    ask_csat: bool = False,
    now: dt.datetime | None = None,
) -> Conversation:
    """Close with a reason (:data:`CLOSE_REASONS`); with ``ask_csat`` the customer is asked
    for a 1–5 rating (:func:`record_csat`). An agent closes their own conversations and
    waiting ones (spam, duplicates); an admin closes any open one."""
    if reason not in CLOSE_REASONS:
        raise InvalidInput(f"unknown reason, one of {', '.join(CLOSE_REASONS)}", field="reason")
    now = now or utcnow()
    conversation = get(session, conversation_id, for_update=True)
    if conversation.state == "closed":
        raise Conflict(f"conversation {conversation_id} is already closed", field="conversation")
    if conversation.state == "agent":
        _own(conversation, agent)
    elif conversation.state == "bot" and agent.role != "admin":
        raise Conflict(f"conversation {conversation_id} is with the bot", field="conversation")
    was_waiting = conversation.state == "waiting_agent"
    conversation.state = "closed"
    conversation.closed_at = now
    conversation.close_reason = reason
    if conversation.agent_user_id is None:
        conversation.agent_user_id = agent.id
    _say(
        session,
        conversation,
        "system",
        "Atendimento encerrado. Obrigado pelo contato!",
        payload={"event": "closed", "reason": reason},
        agent_user_id=agent.id,
        at=now,
    )
    if ask_csat:
        conversation.csat_asked_at = now
        conversation.csat = None
        _say(
            session,
            conversation,
            "system",
            CSAT_QUESTION,
            payload={"event": "csat_request"},
            agent_user_id=agent.id,
            at=now,
        )
    live.announce(session, conversation, queue_moved=was_waiting)
    return conversation


def record_csat(session: Session, conversation_id: int, score: int) -> Conversation:
    """The customer's rating, once, only when it was asked."""
    if not 1 <= score <= 5:
        raise InvalidInput("a rating from 1 to 5", field="score")
    conversation = get(session, conversation_id, for_update=True)
    if conversation.csat_asked_at is None:
        raise Conflict("no rating was asked in this conversation", field="score")
    if conversation.csat is not None:
        raise Conflict("this conversation was already rated", field="score")
    conversation.csat = score
    live.announce(session, conversation)
    return conversation


def csat_reply(session: Session, conversation: Conversation, text: str) -> Reply | None:
    """A customer's "5" (or "nota 4") after the rating question: stored as the rating and
    thanked (the dialogue is not asked). None when ``text`` is not such an answer."""
    if conversation.state != "closed" or conversation.csat_asked_at is None:
        return None
    found = _CSAT_ANSWER.match(text)
    if conversation.csat is not None or found is None:
        return None
    conversation.csat = int(found.group(1))
    message = draft(conversation, "customer", text, payload={"csat": conversation.csat})
    thanks = "Obrigado pela sua avaliação!"
    store(
        session, [message, draft(conversation, "bot", thanks, payload={"event": "csat_recorded"})]
    )
    live.announce(session, conversation)
    return Reply(thanks, None, None, conversation.state, seq=message.seq)


# --- e-mail answers (out of hours) -------------------------------------------------------------


def given_email(session: Session, conversation_id: int) -> str | None:
    """The last valid e-mail address the customer wrote in the conversation."""
    for message in reversed(transcript(session, conversation_id)):
        if message.sender != "customer":
            continue
        for found in reversed(EMAIL_RE.findall(message.text)):
            if is_valid_email(found):
                return str(found).lower()
    return None


def reply_customer(session: Session, conversation: Conversation) -> int | None:
    """Who an e-mail answer goes to: the identified customer, else the known customer of the
    e-mail address written in the chat (None: nobody known)."""
    if conversation.customer_id is not None:
        return conversation.customer_id
    email = given_email(session, conversation.id)
    if email is None:
        return None
    from sincro.customers.lookup import find_customer

    found = find_customer(session, email=email)
    return found.customer_id if found is not None else None


def mail_answer(
    session: Session, conversation: Conversation, message: Message, agent: Agent
) -> str:
    """Hand the answer to messaging; ``queued``, ``suppressed`` (no consent, suppressed
    address) or ``no_address`` (nobody known to write to)."""
    from sincro.assistant import mail
    from sincro.messaging import service as messaging

    customer_id = reply_customer(session, conversation)
    if customer_id is None:
        return "no_address"
    mail.ensure_template(session)
    question = next(
        (
            m.text
            for m in reversed(transcript(session, conversation.id, 0))
            if m.sender == "customer" and m.seq < message.seq
        ),
        "",
    )
    messaging.send_transactional(
        session,
        customer_id=customer_id,
        purpose="service",
        kind=mail.KIND,
        dedupe_key=f"{conversation.id}:{message.seq}",
        template_key=mail.KEY,
        context=mail.context(conversation, message, agent.first_name, question),
    )
    status = messaging.transactional_status(
        session, customer_id, mail.KIND, f"{conversation.id}:{message.seq}"
    )
    return "suppressed" if status == "suppressed" else "queued"
