# ruff: noqa: E501
# (mail template content: long HTML lines read better whole)
"""The pt-BR templates of billing's notices, registered with messaging as system templates
(:func:`ensure_templates`: created when absent, an operator's later edits are kept).

Variables given by :func:`sincro.billing.service.notice_context`: ``invoice_number``,
``amount`` (the balance to pay), ``original_amount``, ``issued_on``, ``due_date``,
``digitable_line``, ``pix_code`` (empty without a PIX key), ``days_overdue`` and
``days_overdue_text`` ("7 dias"); messaging adds ``customer`` and ``today``. The invoice PDF
goes as an attachment."""

from __future__ import annotations

from sqlalchemy.orm import Session

VARIABLES = (
    "invoice_number",
    "amount",
    "original_amount",
    "issued_on",
    "due_date",
    "digitable_line",
    "pix_code",
    "days_overdue",
    "days_overdue_text",
)

_STYLE_BODY = (
    "margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2937"
)
_STYLE_CARD = "max-width:560px;margin:24px auto;background:#ffffff;border-radius:8px;padding:28px"
_STYLE_BOX = (
    "background:#f8fafc;border:1px solid #e2e8f0;border-radius:6px;padding:12px;"
    "font-family:'Courier New',monospace;font-size:13px;word-break:break-all"
)


def _html(title: str, intro: str) -> str:
    return (
        f'<!doctype html>\n<html lang="pt-BR"><body style="{_STYLE_BODY}">\n'
        f'<div style="{_STYLE_CARD}">\n'
        f'<h1 style="font-size:20px;margin:0 0 16px">{title}</h1>\n'
        "<p>Olá, {{ customer.first_name }}!</p>\n"
        f"<p>{intro}</p>\n"
        '<table style="width:100%;border-collapse:collapse;margin:16px 0">\n'
        '<tr><td style="padding:6px 0;color:#64748b">Fatura</td>'
        '<td style="padding:6px 0;text-align:right"><strong>{{ invoice_number }}</strong></td></tr>\n'
        '<tr><td style="padding:6px 0;color:#64748b">Vencimento</td>'
        '<td style="padding:6px 0;text-align:right"><strong>{{ due_date | date }}</strong></td></tr>\n'
        '<tr><td style="padding:6px 0;color:#64748b">Valor a pagar</td>'
        '<td style="padding:6px 0;text-align:right;font-size:18px"><strong>{{ amount | money }}</strong></td></tr>\n'
        "</table>\n"
        '<h2 style="font-size:15px;margin:20px 0 6px">Boleto: linha digitável</h2>\n'
        f'<div style="{_STYLE_BOX}">{{{{ digitable_line }}}}</div>\n'
        "{% if pix_code %}"
        '<h2 style="font-size:15px;margin:20px 0 6px">Pix copia e cola</h2>\n'
        f'<div style="{_STYLE_BOX}">{{{{ pix_code }}}}</div>\n'
        '<p style="font-size:13px;color:#64748b">No app do seu banco, escolha Pix &gt; '
        "Pix copia e cola e cole o código acima.</p>\n"
        "{% endif %}"
        '<p style="font-size:13px;color:#64748b">A fatura em PDF segue anexa a este e-mail. '
        "Se você já pagou, desconsidere esta mensagem.</p>\n"
        "</div>\n</body></html>\n"
    )


def _text(intro: str) -> str:
    return (
        "Olá, {{ customer.first_name }}!\n\n"
        f"{intro}\n\n"
        "Fatura: {{ invoice_number }}\n"
        "Vencimento: {{ due_date | date }}\n"
        "Valor a pagar: {{ amount | money }}\n\n"
        "Boleto (linha digitável):\n{{ digitable_line }}\n"
        "{% if pix_code %}\nPix copia e cola:\n{{ pix_code }}\n{% endif %}"
        "\nA fatura em PDF segue anexa. Se você já pagou, desconsidere esta mensagem.\n"
    )


_ISSUED = "Sua fatura {{ invoice_number }} já está disponível. Confira os dados para pagamento."
_SOON = "Sua fatura {{ invoice_number }} vence em {{ due_date | date }}. Evite atrasos."
_OVERDUE = (
    "Não identificamos o pagamento da fatura {{ invoice_number }}, vencida há "
    "{{ days_overdue_text }}. Regularize para evitar a suspensão dos serviços."
)

TEMPLATES = {
    "billing.invoice_issued": (
        "Fatura emitida",
        "Sua fatura {{ invoice_number }} chegou: {{ amount | money }}, vence em {{ due_date | date }}",
        _html("Sua fatura chegou", _ISSUED),
        _text(_ISSUED),
    ),
    "billing.due_soon": (
        "Fatura a vencer",
        "Lembrete: sua fatura {{ invoice_number }} vence em {{ due_date | date }}",
        _html("Sua fatura vence em breve", _SOON),
        _text(_SOON),
    ),
    "billing.overdue": (
        "Fatura vencida",
        "Fatura {{ invoice_number }} em aberto: {{ amount | money }}",
        _html("Fatura em aberto", _OVERDUE),
        _text(_OVERDUE),
    ),
}


def ensure_templates(session: Session) -> None:
    """Register billing's templates with messaging when absent (one read each when present)."""
    from sincro.messaging import service as messaging

    for key, (name, subject, html, text) in TEMPLATES.items():
        messaging.ensure_template(
            session,
            key=key,
            name=name,
            purpose="billing",
            subject=subject,
            html=html,
            text=text,
            variables=VARIABLES,
        )
