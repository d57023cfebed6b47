# ruff: noqa: E501
# (mail template content: long HTML lines read better whole)
"""The assistant's pt-BR e-mails, registered with messaging as system templates (operators may
edit them in "Mensagens"); messaging adds ``customer`` and ``today`` to their variables.

- ``assistant.agent_reply``: an agent's answer to a conversation queued out of hours.
  Variables: ``agent_name`` (first name), ``reply``, ``question`` (the customer's last
  message before the answer), ``asked_on`` (its local date), ``conversation_id``.
- ``assistant.lgpd_export``: the copy of their data a customer asked for in the chat (the
  JSON export attached; :mod:`sincro.assistant.dialogue.privacy`). Variables:
  ``conversation_id``, ``requested_on``."""

from __future__ import annotations

import datetime as dt
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


def ensure_template(session: Session, key: str = KEY) -> None:
    """Register the template ``key`` (of :data:`TEMPLATES`) with messaging when absent."""
    from sincro.messaging import service as messaging

    name, subject, html, text, variables = TEMPLATES[key]
    messaging.ensure_template(
        session,
        key=key,
        name=name,
        purpose="service",
        subject=subject,
        html=html,
        text=text,
        variables=variables,
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


EXPORT_KEY = "assistant.lgpd_export"
EXPORT_KIND = "assistant_lgpd_export"
EXPORT_VARIABLES = ("conversation_id", "requested_on")
EXPORT_SUBJECT = "Cópia dos seus dados (LGPD)"
EXPORT_HTML = """<!doctype html>
<html lang="pt-BR"><body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2937">
<div style="max-width:560px;margin:24px auto;background:#ffffff;border-radius:8px;padding:28px">
<h1 style="font-size:20px;margin:0 0 16px">A cópia dos seus dados</h1>
<p>Olá, {{ customer.first_name }}!</p>
<p>Como você pediu no nosso atendimento em {{ requested_on }}, segue anexa uma cópia de todos os dados pessoais que guardamos sobre você (arquivo JSON), conforme a Lei Geral de Proteção de Dados (LGPD).</p>
<p>Se algo estiver errado ou se quiser a exclusão dos seus dados, fale com a gente pelo chat.</p>
<p style="font-size:13px;color:#64748b">Atendimento nº {{ conversation_id }}. Se não foi você quem pediu, responda este e-mail.</p>
</div>
</body></html>
"""
EXPORT_TEXT = """Olá, {{ customer.first_name }}!

Como você pediu no nosso atendimento em {{ requested_on }}, segue anexa uma cópia de todos os dados pessoais que guardamos sobre você (arquivo JSON), conforme a Lei Geral de Proteção de Dados (LGPD).

Se algo estiver errado ou se quiser a exclusão dos seus dados, fale com a gente pelo chat.

Atendimento nº {{ conversation_id }}. Se não foi você quem pediu, responda este e-mail.
"""


TEMPLATES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    KEY: ("Resposta do atendimento por e-mail", SUBJECT, HTML, TEXT, VARIABLES),
    EXPORT_KEY: (
        "Cópia dos dados pedida no atendimento (LGPD)",
        EXPORT_SUBJECT,
        EXPORT_HTML,
        EXPORT_TEXT,
        EXPORT_VARIABLES,
    ),
}


def export_filename(now: dt.datetime) -> str:
    return f"meus-dados-{now:%Y-%m-%d}.json"
