# ruff: noqa: E501
# (reply texts read better whole)
"""Suggested replies for agents, chosen by the conversation's last intent.

Admins keep them in the console ("Respostas sugeridas"): a template for an intent, or for
every intent (``intent`` empty). An intent with no template of its own is offered the
built-in defaults below, so a fresh installation already helps."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.assistant.agent_models import ReplyTemplate
from sincro.assistant.classifier import INTENTS
from sincro.errors import InvalidInput, NotFound

MAX_TITLE = 80
MAX_TEXT = 2000
MAX_TEMPLATES = 500


@dataclass(frozen=True, slots=True)
class Suggestion:
    title: str
    text: str


DEFAULTS: dict[str, tuple[Suggestion, ...]] = {
    "segunda_via_fatura": (
        Suggestion(
            "Enviar 2ª via",
            "Vou te enviar a segunda via da fatura agora por e-mail. Confere se chegou?",
        ),
        Suggestion(
            "Confirmar identidade",
            "Para sua segurança, pode me confirmar seu CPF e sua data de nascimento?",
        ),
    ),
    "consultar_debito": (
        Suggestion(
            "Débitos em aberto",
            "Verifiquei aqui: vou te passar as faturas em aberto com vencimento e valor.",
        ),
        Suggestion(
            "Negociação",
            "Posso te ajudar a negociar esse valor. Prefere pagar à vista ou parcelar?",
        ),
    ),
    "status_pedido": (
        Suggestion(
            "Pedir número",
            "Pode me passar o número do pedido? Assim consulto o andamento para você.",
        ),
    ),
    "disponibilidade_produto": (
        Suggestion(
            "Consultar loja",
            "Vou consultar o estoque nas lojas perto de você. De qual cidade você fala?",
        ),
        Suggestion(
            "Avise-me",
            "Esse produto está em falta agora. Posso te avisar por e-mail assim que chegar?",
        ),
    ),
    "cancelamento": (
        Suggestion(
            "Entender o motivo",
            "Sinto muito que queira cancelar. Pode me contar o que aconteceu? Talvez eu consiga resolver.",
        ),
        Suggestion(
            "Oferta de permanência",
            "Tenho uma condição especial para você continuar com a gente. Posso te apresentar?",
        ),
    ),
    "reclamacao": (
        Suggestion(
            "Pedir desculpas",
            "Peço desculpas pelo transtorno. Vou registrar sua reclamação e acompanhar até resolver.",
        ),
    ),
    "suporte_tecnico": (
        Suggestion(
            "Reiniciar",
            "Vamos tentar o básico primeiro: pode desligar o aparelho por 30 segundos e ligar de novo?",
        ),
    ),
    "planos_ofertas": (
        Suggestion(
            "Planos",
            "Temos planos com mais internet pelo mesmo preço. Quer que eu compare com o seu atual?",
        ),
    ),
    "privacidade": (
        Suggestion(
            "LGPD",
            "Você pode pedir uma cópia ou a exclusão dos seus dados. Vou registrar seu pedido agora.",
        ),
    ),
}
GENERIC: tuple[Suggestion, ...] = (
    Suggestion("Algo mais?", "Posso ajudar em mais alguma coisa?"),
    Suggestion("Aguarde", "Só um momento, por favor, estou verificando."),
)


def for_intent(session: Session, intent: str | None) -> list[Suggestion]:
    """The replies offered for ``intent``: its own templates (else the defaults), then the
    templates for every intent (else the generic ones)."""
    rows = list(
        session.scalars(
            select(ReplyTemplate)
            .where((ReplyTemplate.intent == intent) | ReplyTemplate.intent.is_(None))
            .order_by(ReplyTemplate.intent.is_(None), ReplyTemplate.id)
        )
    )
    own = [Suggestion(r.title, r.text) for r in rows if r.intent is not None]
    common = [Suggestion(r.title, r.text) for r in rows if r.intent is None]
    return (own or list(DEFAULTS.get(intent or "", ()))) + (common or list(GENERIC))


def list_templates(session: Session) -> list[ReplyTemplate]:
    return list(
        session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.intent, ReplyTemplate.id))
    )


def add_template(session: Session, intent: str, title: str, text: str) -> ReplyTemplate:
    intent, title, text = intent.strip(), title.strip(), text.strip()
    if intent and intent not in INTENTS:
        raise InvalidInput("unknown intent", field="intent")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"a title of 1 to {MAX_TITLE} characters", field="title")
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"a text of 1 to {MAX_TEXT} characters", field="text")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in title + text):
        raise InvalidInput("control characters are not allowed", field="text")
    if len(list_templates(session)) >= MAX_TEMPLATES:
        raise InvalidInput(f"at most {MAX_TEMPLATES} templates", field="text")
    row = ReplyTemplate(intent=intent or None, title=title, text=text)
    session.add(row)
    session.flush()
    return row


def delete_template(session: Session, template_id: int) -> None:
    row = session.get(ReplyTemplate, template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    session.delete(row)
