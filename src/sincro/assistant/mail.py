# ruff: noqa: E501
# (mail template content: long HTML lines read better whole)
"""The pt-BR e-mail that carries an agent's answer to a conversation queued out of hours,
registered with messaging as a system template (operators may edit it in "Mensagens").

Variables: ``agent_name`` (first name), ``reply``, ``question`` (the customer's last message
before the answer), ``asked_on`` (its local date), ``conversation_id``; messaging adds
``customer`` and ``today``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.assistant.models import Conversation, Message
from sincro.text_pt import date_br

KEY = "assistant.agent_reply"
KIND = "assistant_reply"
VARIABLES = ("agent_name", "reply", "question", "asked_on", "conversation_id")

SUBJECT = "Resposta ao seu atendimento nº {{ conversation_id }}"
HTML = """<!doctype html>
<html lang="pt-BR"><body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2937">
<div style="max-width:560px;margin:24px auto;background:#ffffff;border-radius:8px;padding:28px">
<h1 style="font-size:20px;margin:0 0 16px">Respondemos sua mensagem</h1>
<p>Olá, {{ customer.first_name }}!</p>
<p>Você nos escreveu fora do horário de atendimento{% if asked_on %} em {{ asked_on }}{% endif %}. {{ agent_name }}, da nossa equipe, respondeu:</p>
<blockquote style="margin:16px 0;padding:12px 16px;background:#f0f9ff;border-left:4px solid #0f766e;white-space:pre-line">{{ reply }}</blockquote>
{% if question %}<p style="font-size:13px;color:#64748b">Sua mensagem: “{{ question }}”</p>{% endif %}
<p style="font-size:13px;color:#64748b">Atendimento nº {{ conversation_id }}. Para continuar, fale de novo com a gente pelo chat.</p>
</div>
</body></html>
"""
TEXT = """Olá, {{ customer.first_name }}!

Você nos escreveu fora do horário de atendimento{% if asked_on %} em {{ asked_on }}{% endif %}. {{ agent_name }}, da nossa equipe, respondeu:

{{ reply }}
{% if question %}
Sua mensagem: "{{ question }}"
{% endif %}
Atendimento nº {{ conversation_id }}. Para continuar, fale de novo com a gente pelo chat.
"""


def ensure_template(session: Session) -> None:
    """Register the template with messaging when absent."""
    from sincro.messaging import service as messaging

    messaging.ensure_template(
        session,
        key=KEY,
        name="Resposta do atendimento por e-mail",
        purpose="service",
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
        variables=VARIABLES,
    )


def context(
    conversation: Conversation, message: Message, agent_name: str, question: str
) -> dict[str, Any]:
    asked_on = date_br(conversation.queued_at) if conversation.queued_at else ""
    return {
        "agent_name": agent_name,
        "reply": message.text,
        "question": question[:500],
        "asked_on": asked_on,
        "conversation_id": conversation.id,
    }
