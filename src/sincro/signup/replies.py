"""The answers the sign-up service sends, in pt-BR, threaded under the person's message
(``In-Reply-To``, ``References``) and marked ``Auto-Submitted: auto-replied`` so the other
side's robots do not answer back."""

from __future__ import annotations

from email.message import EmailMessage

from sincro.mail import build_message
from sincro.signup.inbound import Inbound
from sincro.signup.parsing import FIELD_LABELS, Problem, Valid
from sincro.text_pt import date_br, mask

FORM = """Nome completo:
CPF:
E-mail:
Cidade/UF:
Plano de interesse:
Telefone (opcional):
Receber ofertas por e-mail (sim/não):"""


def _subject(inbound: Inbound) -> str:
    subject = inbound.subject.strip() or "Cadastro"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"[:200]


def _threaded(message: EmailMessage, inbound: Inbound, reply_message_id: str) -> EmailMessage:
    del message["Message-ID"]
    message["Message-ID"] = reply_message_id
    if inbound.message_id:
        message["In-Reply-To"] = inbound.message_id
        message["References"] = " ".join(filter(None, [inbound.references, inbound.message_id]))
    message["Auto-Submitted"] = "auto-replied"
    return message


def confirmation(
    inbound: Inbound, valid: Valid, sender: str, reply_message_id: str
) -> EmailMessage:
    lines = [
        f"Olá, {valid.name.split()[0]}!",
        "",
        "Recebemos o seu cadastro. Confira os dados:",
        "",
        f"Nome: {valid.name}",
        f"CPF: {mask(valid.document)}",
        f"E-mail: {valid.email}",
        f"Cidade: {valid.city}/{valid.state}",
    ]
    if valid.plan:
        lines.append(f"Plano de interesse: {valid.plan}")
    if valid.birth_date:
        lines.append(f"Data de nascimento: {date_br(valid.birth_date)}")
    if valid.marketing is not None:
        lines.append("Receber ofertas por e-mail: " + ("sim" if valid.marketing else "não"))
    lines += [
        "",
        "Se algo estiver errado, responda a esta mensagem com a correção.",
        "",
        "Obrigado!",
    ]
    message = build_message(
        sender=sender, to=inbound.sender, subject=_subject(inbound), text="\n".join(lines)
    )
    return _threaded(message, inbound, reply_message_id)


def incomplete(
    inbound: Inbound, problems: list[Problem], sender: str, reply_message_id: str
) -> EmailMessage:
    named = sorted({FIELD_LABELS.get(p.field, p.field) for p in problems})
    lines = [
        "Olá!",
        "",
        "Recebemos a sua mensagem, mas ainda não conseguimos concluir o cadastro.",
        "",
        "O que falta ou precisa ser corrigido:",
        *(f"- {p.message}" for p in problems),
        "",
        "Responda a esta mensagem preenchendo as linhas abaixo (pode apagar as que já enviou):",
        "",
        FORM,
        "",
        "Obrigado!",
    ]
    message = build_message(
        sender=sender,
        to=inbound.sender,
        subject=_subject(inbound),
        text="\n".join(lines),
        headers={"X-Sincro-Missing": ", ".join(named)},
    )
    return _threaded(message, inbound, reply_message_id)


def too_big(inbound: Inbound, limit_bytes: int, sender: str, reply_message_id: str) -> EmailMessage:
    text = "\n".join(
        [
            "Olá!",
            "",
            f"A sua mensagem passou do tamanho que aceitamos ({limit_bytes // 1024} KB)"
            " e não foi lida.",
            "Responda só com o texto, sem anexos, preenchendo:",
            "",
            FORM,
            "",
            "Obrigado!",
        ]
    )
    message = build_message(sender=sender, to=inbound.sender, subject=_subject(inbound), text=text)
    return _threaded(message, inbound, reply_message_id)


def invitation(to: str, sender: str) -> EmailMessage:
    """The sign-up invitation: a short text and the form lines to fill in."""
    text = "\n".join(
        [
            "Olá!",
            "",
            "Para se cadastrar, responda a esta mensagem preenchendo as linhas abaixo:",
            "",
            FORM,
            "",
            "Os seus dados são usados para o cadastro e o atendimento; ofertas só com o seu sim.",
        ]
    )
    return build_message(sender=sender, to=to, subject="Convite para cadastro", text=text)
