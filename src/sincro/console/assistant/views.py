"""What the "Atendimento" pages show, and to whom: labels, masked text, the customer panel
and the live queue's snapshot.

Roles (docs/architecture.md, "Assistant — people"): agents and admins. In transcripts and
previews an agent sees CPF/CNPJ, e-mail and phone numbers masked (``customers.visibility``'s
masks) unless the conversation's customer was identified (CPF plus a second factor: then the
data is the speaker's own); admins see the text as written. The customer panel exists only
for identified customers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.access import service as access
from sincro.assistant import agents, entities
from sincro.assistant.models import Conversation, Message
from sincro.customers.visibility import mask_document, mask_email, mask_phone, view_for
from sincro.inventory import service as inventory
from sincro.text_pt import format_cnpj, format_cpf

STATE_LABELS = {
    "bot": "Com o assistente",
    "waiting_agent": "Na fila",
    "agent": "Em atendimento",
    "closed": "Encerrada",
}
REASON_LABELS = {
    "asked_for_person": "Pediu uma pessoa",
    "low_confidence": "Assistente não entendeu",
    "complaint": "Reclamação",
    "cancellation": "Cancelamento",
    "negative_sentiment": "Cliente insatisfeito",
    "cannot_do": "Assistente não resolve",
}
SENDER_LABELS = {
    "customer": "Cliente",
    "bot": "Assistente",
    "agent": "Atendente",
    "system": "Aviso",
}
CHANNEL_LABELS = {"web": "Site", "api": "API", "whatsapp": "WhatsApp"}
INTENT_LABELS = {
    "saudacao": "Saudação",
    "despedida": "Despedida",
    "segunda_via_fatura": "2ª via de fatura",
    "consultar_debito": "Consultar débito",
    "disponibilidade_produto": "Disponibilidade de produto",
    "loja_proxima": "Loja próxima",
    "status_pedido": "Status do pedido",
    "informacao_produto": "Informação de produto",
    "planos_ofertas": "Planos e ofertas",
    "cancelamento": "Cancelamento",
    "suporte_tecnico": "Suporte técnico",
    "reclamacao": "Reclamação",
    "falar_com_atendente": "Falar com atendente",
    "cadastro": "Cadastro",
    "privacidade": "Privacidade",
    "fora_do_escopo": "Fora do escopo",
}
EMAIL_STATUS = {
    "queued": "enviada também por e-mail",
    "suppressed": "não enviada por e-mail (sem consentimento ou endereço bloqueado)",
    "no_address": "não enviada por e-mail (nenhum cliente conhecido com o e-mail informado)",
}
MASKS = {"cpf": mask_document, "cnpj": mask_document, "email": mask_email, "phone": mask_phone}
PREVIEW_CHARS = 120


def sees_as_written(role: str, conversation: Conversation) -> bool:
    return role == "admin" or conversation.customer_id is not None


def masked(text: str) -> str:
    """``text`` with documents, e-mails and phones masked (offsets from the entity rules)."""
    spans = [e for e in entities.find(text) if e.type in MASKS]
    for found in sorted(spans, key=lambda e: e.start, reverse=True):
        text = text[: found.start] + (MASKS[found.type](found.value) or "") + text[found.end :]
    return text


def shown(text: str, role: str, conversation: Conversation) -> str:
    return text if sees_as_written(role, conversation) else masked(text)


def agent_names(session: Session, ids: Sequence[int | None]) -> dict[int, str]:
    return {i: user.name for i, user in access.users_by_id(session, ids).items()}


def message_view(
    message: Message, role: str, conversation: Conversation, names: dict[int, str]
) -> dict[str, Any]:
    payload = message.payload or {}
    return {
        "seq": message.seq,
        "sender": message.sender,
        "sender_label": (
            names.get(message.agent_user_id, "Atendente")
            if message.sender == "agent" and message.agent_user_id
            else SENDER_LABELS.get(message.sender, message.sender)
        ),
        "text": shown(message.text, role, conversation),
        "at": message.created_at.isoformat(),
        "intent": INTENT_LABELS.get(message.intent or "", message.intent),
        "email": EMAIL_STATUS.get(str(payload.get("email", ""))),
    }


def last_customer_text(session: Session, conversation_ids: Sequence[int]) -> dict[int, str]:
    """The last customer message of each conversation (previews in the queue)."""
    if not conversation_ids:
        return {}
    latest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(list(conversation_ids)), Message.sender == "customer")
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(Message.conversation_id, Message.text).join(
            latest,
            (Message.conversation_id == latest.c.conversation_id) & (Message.seq == latest.c.seq),
        )
    )
    return {int(cid): str(text) for cid, text in rows}


def _preview(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def queue_snapshot(session: Session, settings: Any, user_id: int, role: str) -> dict[str, Any]:
    """The inbox's live content: the queue (oldest first) and the conversations in progress
    (the agent's own; every agent's for an admin)."""
    waiting = agents.waiting(session)
    query = select(Conversation).where(Conversation.state == "agent")
    if role != "admin":
        query = query.where(Conversation.agent_user_id == user_id)
    ongoing = list(session.scalars(query.order_by(Conversation.last_message_at.desc()).limit(200)))
    texts = last_customer_text(session, [c.id for c in (*waiting, *ongoing)])
    names = agent_names(session, [c.agent_user_id for c in ongoing])
    present = agents.present_agents(session, settings)

    def row(c: Conversation) -> dict[str, Any]:
        return {
            "id": c.id,
            "channel": CHANNEL_LABELS.get(c.channel, c.channel),
            "reason": REASON_LABELS.get(c.handoff_reason or "", c.handoff_reason or ""),
            "queued_at": c.queued_at.isoformat() if c.queued_at else None,
            "last_message_at": c.last_message_at.isoformat(),
            "by_email": c.reply_by_email,
            "identified": c.customer_id is not None,
            "preview": _preview(shown(texts.get(c.id, ""), role, c)),
            "agent": names.get(c.agent_user_id or 0, ""),
            "mine": c.agent_user_id == user_id,
        }

    return {
        "waiting": [row(c) for c in waiting],
        "ongoing": [row(c) for c in ongoing],
        "present": len(present),
    }


# --- the customer panel ------------------------------------------------------------------------


ORDERS_SHOWN = 5


def recent_orders(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The customer's latest reservations (their status as of now: active, committed,
    released, expired) through inventory's service, for the panel. Each item:
    ``{"reference", "status", "at", "items"}``."""
    return [
        {
            "reference": r.order_reference or r.id,
            "status": r.status,
            "at": r.closed_at or r.created_at,
            "items": [f"{line.qty}× {line.sku} ({line.location})" for line in r.lines],
        }
        for r in inventory.reservations_for_customer(session, customer_id, ORDERS_SHOWN)
    ]


def customer_panel(
    session: Session, conversation: Conversation, role: str, grace_days: int
) -> dict[str, Any] | None:
    """Identity, receivables, messages received and recent orders of an identified customer
    (None for an anonymous conversation). The document is shown in full: the customer proved
    it is theirs; e-mail and phone as the role's view says."""
    if conversation.customer_id is None:
        return None
    from sincro.customers import service as customers
    from sincro.customers.exceptions import CustomerNotFound

    base = view_for(role)
    if base is None:
        return None
    view = dataclasses.replace(base, document=True)
    try:
        detail = customers.customer_detail(
            session, conversation.customer_id, view, grace_days=grace_days
        )
    except CustomerNotFound:
        return None
    receivables = [r for r in (detail.receivables or []) if r.status == "open"]
    document = detail.document or ""
    if len(document) == 11:
        document = format_cpf(document)
    elif len(document) == 14:
        document = format_cnpj(document)
    return {
        "detail": detail,
        "document": document,
        "open_receivables": receivables[:10],
        "messages": received_messages(session, conversation.customer_id),
        "orders": recent_orders(session, conversation.customer_id),
    }


def received_messages(session: Session, customer_id: int, limit: int = 8) -> list[dict[str, Any]]:
    """The last messages and campaigns messaging sent (or held back) for the customer."""
    from sincro.messaging import service as messaging

    entries = messaging.customer_messages(session, customer_id)[-limit:]
    names = messaging.campaign_names(session, (e.campaign_id for e in entries))
    return [
        {
            "campaign": names.get(e.campaign_id, ""),
            "kind": e.kind,
            "purpose": e.purpose,
            "status": e.status,
            "at": e.sent_at or e.created_at,
        }
        for e in reversed(entries)
    ]


def wait_label(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, rest = divmod(int(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def waited_label(iso: str | None, now: dt.datetime) -> str:
    """How long since the ISO moment ``iso``, for people ("3 min 05 s")."""
    if not iso:
        return "–"
    return wait_label(max(0.0, (now - dt.datetime.fromisoformat(iso)).total_seconds()))
