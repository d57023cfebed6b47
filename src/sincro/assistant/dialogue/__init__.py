"""The dialogue: what the bot answers to one customer message (:func:`respond`).

One turn: understand the message (:func:`sincro.assistant.service.parse`), store it, then
decide in this order —

1. a person already has the conversation (``waiting_agent``/``agent``): the bot stays silent;
2. strong negative sentiment (:mod:`.sentiment`): hand off (``negative_sentiment``);
3. a slot the bot asked for is in the message (city, product, CPF, second factor, question,
   the "confirmo" of an erasure): the pending request goes on, whatever the classifier thinks
   of a bare "niteroi";
4. an LGPD request by its words ("cópia dos meus dados", "excluir meus dados": :mod:`.privacy`,
   behind ``identity``), then a request for a person, a complaint or a cancellation: hand off;
5. a follow-up of the last answer ("e na loja do centro?", "e em campinas?", "e o a05?")
   resolved against the flow's last city, store and product;
6. confidence below ``SINCRO_ASSISTANT_CONFIDENCE_THRESHOLD``: ask to clarify, and hand off
   (``low_confidence``) on the second such turn in a row;
7. the intent's answer family (``stores``, ``documents``, ``offers``, ``account`` behind
   ``identity``, ``small``), which answers from Sincro's data or hands off (``cannot_do``).

The flow (``conversation.flow``, JSON) keeps: ``awaiting`` {slot, intent}, the last
``product`` {sku, name}, ``city`` ("Name/UF"), ``store`` and ``stores`` shown, ``invoice`` sent,
``identity`` {key, candidate} while verifying, ``after`` (the request waiting for it),
``privacy`` (``export``/``erase`` waiting for it), ``low``
(consecutive low-confidence turns) and ``last_intent``.

An identified customer's understood turn publishes ``assistant.interaction`` (marketing reads
it). Logs carry ids, intents and states — never the customer's text, CPF, e-mail or phone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from sincro.assistant import queue, service
from sincro.assistant.conversations import Action, Reply, draft, store
from sincro.assistant.dialogue import (
    account,
    documents,
    identity,
    offers,
    privacy,
    sentiment,
    small,
    stores,
)
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.assistant.interactions import INTERACTION, Interaction
from sincro.assistant.models import Conversation, Message
from sincro.db import utcnow
from sincro.errors import Conflict
from sincro.events import publish

log = logging.getLogger("sincro.assistant.dialogue")

Handler = Callable[[Turn], Answer]
HANDOFF_INTENTS = {
    "falar_com_atendente": "asked_for_person",
    "reclamacao": "complaint",
    "cancelamento": "cancellation",
}
ACCOUNT: dict[str, Handler] = {
    "segunda_via_fatura": account.invoice_copy,
    "consultar_debito": account.debt,
    "status_pedido": account.order_status,
}
HANDLERS: dict[str, Handler] = {
    "saudacao": small.greeting,
    "despedida": small.farewell,
    "cadastro": small.sign_up,
    "privacidade": privacy.respond,
    "fora_do_escopo": small.out_of_scope,
    "loja_proxima": stores.nearest_stores,
    "disponibilidade_produto": stores.availability,
    "informacao_produto": documents.product_information,
    "suporte_tecnico": documents.technical_support,
    "planos_ofertas": offers.plans_and_offers,
}
# what runs once the identity check the request waited for succeeds
AFTER_IDENTITY: dict[str, Handler] = {**ACCOUNT, privacy.INTENT: privacy.after_identity}
# what "manda por e-mail" after an invoice copy may be taken for
ACCOUNT_FOLLOW = ("consultar_debito", "fora_do_escopo", "cadastro", "privacidade")
PLACE_INTENTS = ("disponibilidade_produto", "loja_proxima")
CLARIFY = "Desculpe, não entendi bem. Pode dizer de outro jeito? " + small.HELP


def respond(session: Session, settings: Any, conversation: Conversation, text: str) -> Reply:
    """Store the customer's ``text`` and the bot's answer; the :class:`Reply` for the caller.
    :class:`~sincro.errors.Conflict` (409) for a closed conversation: a new one is started."""
    if conversation.state == "closed":
        raise Conflict(
            f"conversation {conversation.id} is closed; start a new conversation", field="id"
        )
    parsed = service.parse(session, text, settings)
    received = utcnow()

    def customer_message() -> Message:
        return draft(
            conversation,
            "customer",
            text,
            intent=parsed.intent,
            confidence=parsed.confidence,
            payload={"entities": [e.model_dump() for e in parsed.entities]},
            at=received,
        )

    if conversation.state != "bot":  # a person answers: the message waits for them
        message = customer_message()
        store(session, [message])
        return Reply("", parsed.intent, parsed.confidence, conversation.state, seq=message.seq)
    turn = Turn(session, settings, conversation, text, parsed, dict(conversation.flow or {}))
    intent, answer = decide(turn)
    # numbered only now, and stored with the reply: the answer's reads flushed nothing
    message = customer_message()
    actions = list(answer.actions)
    reply = answer.reply
    if answer.handoff is not None:
        queue.enqueue(session, conversation, answer.handoff, settings)
        notice = queue.handoff_notice(session, conversation, settings)
        reply = f"{reply}\n{notice}" if reply else notice
        place = queue.position(session, conversation)
        actions.append(Action("handoff", {"reason": answer.handoff, "position": place}))
    turn.flow["low"] = turn.flow.get("low", 0) if answer.kind == "clarify" else 0
    turn.flow["last_intent"] = intent
    conversation.flow = dict(turn.flow)  # a new object: the JSON column is written
    answered = draft(
        conversation,
        "bot",
        reply,
        payload={"actions": [a.as_dict() for a in actions], "kind": answer.kind},
    )
    store(session, [message, answered])  # one UPDATE of the conversation, one INSERT
    if conversation.customer_id is not None and answer.kind != "clarify":
        _interaction(turn, intent, answer)
    log.info(
        "assistant turn",
        extra={
            "conversation_id": conversation.id,
            "intent": parsed.intent,
            "confidence": parsed.confidence,
            "answered": intent,
            "kind": answer.kind,
            "state": conversation.state,
            "handoff": answer.handoff,
        },
    )
    return Reply(
        reply, parsed.intent, parsed.confidence, conversation.state, tuple(actions), message.seq
    )


def decide(turn: Turn) -> tuple[str, Answer]:
    """(the intent answered, the answer)."""
    if sentiment.strongly_negative(turn.text):
        return turn.intent, Answer.hand_off("negative_sentiment")
    pending = _fill_slot(turn)
    if pending is not None:
        return pending
    request = privacy.wanted(turn)
    if request is not None:
        turn.done_waiting()
        return privacy.INTENT, privacy.respond(turn, request)
    if turn.confident and turn.intent in HANDOFF_INTENTS:
        turn.done_waiting()
        return turn.intent, Answer.hand_off(HANDOFF_INTENTS[turn.intent])
    follow_up = _follow_up(turn)
    if follow_up is not None:
        return follow_up
    if account.wants_email(turn) and turn.intent in ("segunda_via_fatura", *ACCOUNT_FOLLOW):
        emailed = account.email_last_invoice(turn)
        if emailed is not None:
            return "segunda_via_fatura", emailed
    if not turn.confident:
        low = int(turn.flow.get("low", 0)) + 1
        turn.flow["low"] = low
        if low >= 2:
            return turn.intent, Answer.hand_off("low_confidence")
        return turn.intent, Answer(CLARIFY, kind="clarify")
    if turn.intent != (turn.awaiting() or {}).get("intent"):
        turn.done_waiting()
    return turn.intent, _answer(turn, turn.intent)


def _answer(turn: Turn, intent: str) -> Answer:
    if intent in ACCOUNT:
        if not identity.verified(turn):
            return identity.require(turn, intent)
        return ACCOUNT[intent](turn)
    return HANDLERS[intent](turn)


def _fill_slot(turn: Turn) -> tuple[str, Answer] | None:
    """The pending request, when this message carries the slot it waits for."""
    waiting = turn.awaiting()
    if waiting is None:
        return None
    slot, intent = waiting.get("slot"), str(waiting.get("intent"))
    if slot == "city" and (turn.entity("city") or stores.said_city(turn)):
        return intent, HANDLERS[intent](turn)
    if slot == "product" and turn.entity("product") is not None:
        return intent, HANDLERS[intent](turn)
    if slot == "question" and (not turn.confident or turn.intent == intent):
        return intent, HANDLERS[intent](turn)
    if slot == privacy.SLOT:
        return intent, privacy.confirm_erasure(turn)
    if slot == "cpf" and turn.entity("cpf", valid_only=False) is not None:
        return intent, identity.take_cpf(turn)
    if slot == "factor" and (identity.birth_date_in(turn.text) or identity.invoice_in(turn)):
        checked = identity.take_factor(turn)
        if checked is not None:
            return intent, checked
        after = str(turn.flow.pop("after", intent))
        return after, AFTER_IDENTITY[after](turn)
    return None


def _follow_up(turn: Turn) -> tuple[str, Answer] | None:
    """ "e na loja do centro?" / "e em campinas?" / "e o galaxy a05?" after a stores answer,
    and "tem em salvador?" after talking about a product."""
    folded = turn.folded.strip()
    said = turn.entity("city") is not None or stores.said_city(turn) is not None
    if turn.flow.get("last_intent") not in PLACE_INTENTS:
        short = said and turn.flow.get("product") and len(folded.split()) <= 6
        if short and (not turn.confident or turn.intent == "disponibilidade_produto"):
            return "disponibilidade_produto", stores.availability(turn)
        return None
    elliptic = folded.startswith("e ") or len(folded.split()) <= 6
    if not elliptic:
        return None
    if turn.confident and turn.intent not in PLACE_INTENTS and not folded.startswith("e "):
        return None
    if not said:
        place = stores.named_store(turn)
        if place is not None:
            intent = "disponibilidade_produto" if turn.flow.get("product") else "loja_proxima"
            return intent, stores.store_follow_up(turn, place)
    if said or turn.entity("product") is not None:
        last = str(turn.flow.get("last_intent"))
        intent = "disponibilidade_produto" if turn.entity("product") else last
        return intent, HANDLERS[intent](turn)
    return None


def _interaction(turn: Turn, intent: str, answer: Answer) -> None:
    city = turn.flow.get("city")
    name, state = (city.rpartition("/")[0], city.rpartition("/")[2]) if city else (None, None)
    publish(
        turn.session,
        INTERACTION,
        Interaction(
            conversation_id=turn.conversation.id,
            customer_id=turn.conversation.customer_id,
            intent=intent,
            confidence=turn.parsed.confidence,
            skus=answer.skus,
            plan=answer.plan,
            category=answer.category,
            city=name if intent in PLACE_INTENTS else None,
            state=state if intent in PLACE_INTENTS else None,
            at=utcnow(),
        ),
    )
