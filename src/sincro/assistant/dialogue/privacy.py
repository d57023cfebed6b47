"""LGPD in the chat: the customer asks for a copy of their data or its erasure, and the bot does
it, after the identity check (CPF plus a second factor, :mod:`.identity`) in this conversation
and never before: a ``customer_id`` the starting channel vouched for is not enough here.

What is asked is read from the words (:func:`wanted`), whatever the intent the classifier
chose ("apaguem meus dados" may look like ``cadastro``): a copy ("cópia dos meus dados",
"exportar", "quais dados vocês têm"), an erasure ("excluir/apagar/remover meus dados",
"direito ao esquecimento"), or neither (the rights are explained).

- **Copy**: Sincro's per-customer export (:func:`sincro.privacy.export_customer`, audited as
  the console's and the API's are) goes as a JSON attachment by e-mail to the address on file,
  through messaging's transactional path (consent for ``service`` e-mail and the suppression
  list apply) — never into the chat. Once per conversation. Without an address the customer
  may be mailed at, a person takes over.
- **Erasure**: the bot says what billing must keep (the invoices, anonymized) and what goes,
  and waits for the word "confirmo"; anything else drops the request. Confirmed, it runs
  :func:`sincro.privacy.erase_customer` (audited, with the conversation's number as the
  reason). The conversation in progress is first unlinked from the customer (the assistant's
  eraser deletes the linked ones) and its messages so far are blanked
  (:func:`sincro.assistant.retention.redact`); the confirmation is its next message.

The audit names the actor ``assistente virtual (conversa N)``."""

from __future__ import annotations

import json
import re

from sincro import audit, privacy
from sincro.assistant import mail, retention
from sincro.assistant.conversations import Action
from sincro.assistant.dialogue import identity
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.customers import lookup as customers
from sincro.db import utcnow
from sincro.messaging import service as messaging
from sincro.messaging.schemas import Attachment
from sincro.text_pt import date_br, fold

INTENT = "privacidade"
EXPORT, ERASE, RIGHTS_ONLY = "export", "erase", "rights"
SLOT = "erasure"  # awaiting {"slot": "erasure"}: the bot asked for "confirmo"
CONFIRM_WORD = "confirmo"

_DATA = r"\b(?:dados|cadastro|informac\w*|lgpd)\b"
_ERASE_RE = re.compile(
    r"\b(?:exclu\w*|apag\w*|delet\w*|remov\w*|elimin\w*|anonimi\w*)\b.*" + _DATA
    + r"|" + _DATA + r".*\b(?:exclu\w*|apag\w*|delet\w*|remov\w*|elimin\w*|anonimi\w*)\b"
    + r"|\bser esquecid[oa]\b"
)  # fmt: skip
_EXPORT_RE = re.compile(
    r"\b(?:copia|exporta\w*|relatorio|portabilidade|acesso)\b.*\bdados\b"
    r"|\b(?:quais|que) (?:dados|informacoes)\b.*\b(?:tem|tem de|guardam|sabem|possuem)\b"
    r"|\b(?:manda\w*|envia\w*|mande|envie|quero|ver|receber)\b (?:me )?(?:todos )?(?:os )?"
    r"meus dados\b"
)
_LAW_RE = re.compile(r"\blgpd\b|\bprotecao de dados\b|\bprivacidade\b")
_CONFIRM_RE = re.compile(r"^\W*" + CONFIRM_WORD + r"\W*$")

RIGHTS = (
    "Pela LGPD você pode pedir uma cópia de todos os seus dados ou a exclusão deles, aqui "
    "mesmo: é só dizer \u201cquero uma cópia dos meus dados\u201d ou \u201cquero excluir meus "
    "dados\u201d (antes eu confirmo que é você). Para ofertas, cada e-mail tem um link para "
    "descadastrar."
)
ERASURE_TERMS = (
    "Antes de excluir, veja o que acontece:\n"
    "• Seu cadastro fica anônimo: nome, CPF, e-mail, telefone e data de nascimento são "
    "apagados.\n"
    "• Seus consentimentos, conversas com o atendimento, interesses e listas de desejos são "
    "excluídos, e o histórico de e-mails fica sem seu endereço e sem o conteúdo.\n"
    "• Por obrigação legal e fiscal, a cobrança precisa manter as faturas (número, valores, "
    "vencimento e pagamento), mas sem nada que identifique você.\n"
    "Não dá para desfazer. Para confirmar, responda \u201cconfirmo\u201d."
)


def wanted(turn: Turn) -> str | None:
    """``export`` or ``erase`` when the message asks for one of them, ``rights`` when it
    names the law or privacy without a request, else None."""
    folded = " ".join(turn.words)
    if _ERASE_RE.search(folded):
        return ERASE
    if _EXPORT_RE.search(folded):
        return EXPORT
    if _LAW_RE.search(folded):
        return RIGHTS_ONLY
    return None


def respond(turn: Turn, request: str | None = None) -> Answer:
    """The answer to a privacy request (``request`` when the words already told which)."""
    request = request or wanted(turn)
    if request not in (EXPORT, ERASE):
        return Answer(RIGHTS, [Action("show_privacy", {"rights": [EXPORT, ERASE, "unsubscribe"]})])
    turn.flow["privacy"] = request
    if not identity.checked_here(turn):
        return identity.require(turn, INTENT)
    return after_identity(turn)


def after_identity(turn: Turn) -> Answer:
    """The request waiting for the identity check, now that the customer is verified."""
    request = turn.flow.pop("privacy", None)
    if request == EXPORT:
        return send_copy(turn)
    if request == ERASE:
        turn.ask_for(SLOT, INTENT)
        return Answer.ask(ERASURE_TERMS, Action("confirm_erasure", {"word": CONFIRM_WORD}))
    return Answer(RIGHTS, [Action("show_privacy", {"rights": [EXPORT, ERASE, "unsubscribe"]})])


def _actor(turn: Turn) -> audit.Actor:
    return audit.Actor.system(f"assistente virtual (conversa {turn.conversation.id})")


def send_copy(turn: Turn) -> Answer:
    """The export by e-mail to the address on file, once per conversation."""
    customer_id = turn.conversation.customer_id
    assert customer_id is not None
    session, dedupe = turn.session, str(turn.conversation.id)
    if messaging.transactional_status(session, customer_id, mail.EXPORT_KIND, dedupe):
        return Answer(
            "Já enviei a cópia dos seus dados para o e-mail do seu cadastro nesta conversa. "
            "Confira também a caixa de spam.",
            [Action("privacy_export", {"status": "already_sent"})],
        )
    contact = customers.find_customer(session, customer_id=customer_id)
    if contact is None or not contact.email:
        return _no_mail("não há e-mail no seu cadastro")
    now = utcnow()
    data = privacy.export_customer(session, customer_id, _actor(turn))
    document = {"customer_id": customer_id, "generated_at": now.isoformat(), "sections": data}
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()
    mail.ensure_template(session, mail.EXPORT_KEY)
    messaging.send_transactional(
        session,
        customer_id=customer_id,
        purpose="service",
        kind=mail.EXPORT_KIND,
        dedupe_key=dedupe,
        template_key=mail.EXPORT_KEY,
        context={"conversation_id": turn.conversation.id, "requested_on": date_br(now)},
        attachments=(Attachment(mail.export_filename(now), "application/json", body),),
    )
    status = messaging.transactional_status(session, customer_id, mail.EXPORT_KIND, dedupe)
    if status == "suppressed":
        return _no_mail("seu e-mail não está autorizado a receber nossas mensagens")
    return Answer(
        "Pronto! Enviei uma cópia de todos os seus dados para o e-mail do seu cadastro, em um "
        "arquivo anexo. Por segurança, ela não aparece aqui no chat.",
        [Action("privacy_export", {"status": "queued"})],
    )


def _no_mail(why: str) -> Answer:
    answer = Answer.hand_off("cannot_do")
    answer.reply = (
        f"Não consigo enviar a cópia por e-mail: {why}. "
        "Vou te passar para uma pessoa da nossa equipe, que combina outro jeito."
    )
    answer.actions.append(Action("privacy_export", {"status": "no_address"}))
    return answer


def confirm_erasure(turn: Turn) -> Answer:
    """The customer's answer to "responda confirmo": erase, or drop the request."""
    turn.done_waiting()
    customer_id = turn.conversation.customer_id
    if not _CONFIRM_RE.match(fold(turn.text).strip()) or customer_id is None:
        return Answer(
            "Tudo bem, não excluí nada: seus dados continuam como estão. "
            "Se precisar de outra coisa, é só dizer.",
            [Action("privacy_erasure", {"status": "cancelled"})],
        )
    conversation = turn.conversation
    conversation.customer_id = None  # this conversation goes on; the eraser deletes linked ones
    turn.session.flush()
    privacy.erase_customer(
        turn.session,
        customer_id,
        _actor(turn),
        f"pedido do titular no assistente virtual, conversa {conversation.id}",
    )
    retention.redact(turn.session, conversation)
    for key in ("identity", "after", "invoice", "privacy", identity.CHECKED):
        turn.flow.pop(key, None)
    return Answer(
        "Pronto: seus dados pessoais foram excluídos. As faturas ficam guardadas sem nada que "
        f"identifique você. O número deste atendimento é {conversation.id}, caso precise. "
        "As mensagens anteriores desta conversa também foram apagadas.",
        [Action("privacy_erasure", {"status": "erased", "protocol": conversation.id})],
    )
