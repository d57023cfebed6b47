# ruff: noqa: E501
# (mail template content: long HTML lines read better whole)
"""The pt-BR offer templates automation registers with messaging (marketing purpose), one per
kind of offer; operators edit them or pick any marketing template whose variables are among
:data:`OFFER_VARIABLES` (messaging adds ``customer``, ``today``, ``unsubscribe_url``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

#: what :func:`sincro.automation.rules.offer_context` gives every offer (empty when n/a)
OFFER_VARIABLES = (
    "product_name",
    "sku",
    "place",
    "plan_name",
    "category",
    "offer_code",
    "asked_on",
)

_FOOT = '<p style="font-size:12px;color:#64748b">Código da oferta: <span style="font-family:\'Courier New\',monospace">{{ offer_code }}</span>. Não quer mais receber ofertas? <a href="{{ unsubscribe_url }}">Descadastre-se</a>.</p>'
_TEXT_FOOT = (
    "Código da oferta: {{ offer_code }}\nNão quer mais receber ofertas? {{ unsubscribe_url }}\n"
)


def _html(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="pt-BR"><body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2937">\n'
        '<div style="max-width:560px;margin:24px auto;background:#ffffff;border-radius:8px;padding:28px">\n'
        f'<h1 style="font-size:20px;margin:0 0 16px">{title}</h1>\n<p>Olá, {{{{ customer.first_name }}}}!</p>\n{body}\n{_FOOT}\n</div>\n</body></html>\n'
    )


# key: (name, subject, html body, text body)
DEFAULTS: dict[str, tuple[str, str, str, str]] = {
    "automation.back_in_stock_offer": (
        "Oferta: produto de volta perto de você",
        "{{ product_name }} voltou perto de você",
        _html(
            "O produto que você procurou voltou",
            "<p>Em {{ asked_on }} você perguntou por <strong>{{ product_name }}</strong>. Ele já está disponível em <strong>{{ place }}</strong>. Mostre o código abaixo na loja ou use-o no site.</p>",
        ),
        "Olá, {{ customer.first_name }}!\n\nEm {{ asked_on }} você perguntou por {{ product_name }}. Ele já está disponível em {{ place }}. Mostre o código abaixo na loja ou use-o no site.\n\n"
        + _TEXT_FOOT,
    ),
    "automation.product_offer": (
        "Oferta: produto perguntado no chat",
        "Uma oferta para {{ product_name }}",
        _html(
            "Separamos uma oferta para você",
            "<p>Você perguntou por <strong>{{ product_name }}</strong> no nosso atendimento. Use o código abaixo no site ou na loja para aproveitar.</p>",
        ),
        "Olá, {{ customer.first_name }}!\n\nVocê perguntou por {{ product_name }} no nosso atendimento. Use o código abaixo no site ou na loja para aproveitar.\n\n"
        + _TEXT_FOOT,
    ),
    "automation.plan_offer": (
        "Oferta: troca de plano",
        "Um plano melhor para você{% if plan_name %}: {{ plan_name }}{% endif %}",
        _html(
            "Hora de trocar de plano?",
            "<p>Você perguntou sobre planos{% if plan_name %} (<strong>{{ plan_name }}</strong>){% endif %}. Preparamos uma condição especial de troca: responda a este e-mail ou visite uma loja com o código abaixo.</p>",
        ),
        "Olá, {{ customer.first_name }}!\n\nVocê perguntou sobre planos{% if plan_name %} ({{ plan_name }}){% endif %}. Preparamos uma condição especial de troca: responda a este e-mail ou visite uma loja com o código abaixo.\n\n"
        + _TEXT_FOOT,
    ),
    "automation.retention_offer": (
        "Oferta: retenção após pedido de cancelamento",
        "{{ customer.first_name }}, queremos você com a gente",
        _html(
            "Antes de ir, uma proposta",
            "<p>Sabemos que você pensou em cancelar. Temos uma condição especial para você continuar: fale com a gente com o código abaixo.</p>",
        ),
        "Olá, {{ customer.first_name }}!\n\nSabemos que você pensou em cancelar. Temos uma condição especial para você continuar: fale com a gente com o código abaixo.\n\n"
        + _TEXT_FOOT,
    ),
}


def ensure_templates(session: Session) -> None:
    """Register the default offer templates with messaging when absent."""
    from sincro.messaging import service as messaging

    for key, (name, subject, html, text) in DEFAULTS.items():
        messaging.ensure_template(
            session,
            key=key,
            name=name,
            purpose="marketing",
            subject=subject,
            html=html,
            text=text,
            variables=OFFER_VARIABLES,
        )
