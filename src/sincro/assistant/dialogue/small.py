"""Greetings, goodbyes, sign-up and what the bot does not do: short answers that say
what Sincro actually offers."""

from __future__ import annotations

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.customers import lookup as customers

HELP = "Posso ajudar com 2ª via e débitos, pedidos, lojas, estoque de produtos e planos."


def greeting(turn: Turn) -> Answer:
    name = ""
    if turn.conversation.customer_id is not None:
        contact = customers.find_customer(turn.session, customer_id=turn.conversation.customer_id)
        if contact is not None:
            name = f", {contact.name.split()[0]}"
    return Answer(f"Olá{name}! 😊 {HELP} Como posso ajudar?", kind="ask")


def farewell(turn: Turn) -> Answer:
    turn.flow.pop("awaiting", None)
    return Answer("Por nada! Qualquer coisa é só chamar. Até mais! 👋", kind="farewell")


def sign_up(turn: Turn) -> Answer:
    address = turn.settings.signup_address
    return Answer(
        f"Para se cadastrar, mande um e-mail para {address} com seu nome completo e CPF. "
        "Você recebe a confirmação por e-mail e escolhe quais mensagens quer receber.",
        [Action("show_signup", {"email": address})],
    )


def out_of_scope(turn: Turn) -> Answer:
    return Answer(f"Isso eu não sei responder. {HELP}", kind="clarify")
