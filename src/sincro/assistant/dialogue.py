"""The dialogue: what the bot answers to one customer message.

The first cut understands the message and records the turn; the dialogue proper (slots,
context, identity, answers from Sincro's data, handoff rules) grows here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.assistant import queue, service
from sincro.assistant.conversations import Action, Reply, append
from sincro.assistant.models import Conversation


def respond(session: Session, settings: Any, conversation: Conversation, text: str) -> Reply:
    if conversation.state == "closed":
        conversation.state = "bot"  # a customer writing again reopens the conversation
    parsed = service.parse(session, text, settings)
    message = append(
        session,
        conversation,
        "customer",
        text,
        intent=parsed.intent,
        confidence=parsed.confidence,
        payload={"entities": [e.model_dump() for e in parsed.entities]},
    )
    if conversation.state != "bot":  # a person answers: the message waits for them
        return Reply("", parsed.intent, parsed.confidence, conversation.state, seq=message.seq)
    if parsed.intent == "falar_com_atendente":
        queue.enqueue(session, conversation, "asked_for_person")
        reply = queue.handoff_notice(session, conversation)
        actions: tuple[Action, ...] = (Action("handoff", {"reason": "asked_for_person"}),)
    else:
        reply = "Entendi. Como posso ajudar?"
        actions = ()
    append(session, conversation, "bot", reply, payload={"actions": [a.as_dict() for a in actions]})
    return Reply(
        reply, parsed.intent, parsed.confidence, conversation.state, actions, seq=message.seq
    )
