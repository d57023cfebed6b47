# ruff: noqa: E501
# (mail template content: long HTML lines read better whole)
"""The pt-BR back-in-stock template, registered with messaging as a system template.

Variables given by :func:`sincro.wishes.service.notice_context`: ``product_name``, ``sku``,
``place`` (where it is, as people read it), ``online`` (bool), ``location_name``, ``city``,
``state``, ``wished_on``; messaging adds ``customer`` and ``today``."""

from __future__ import annotations

from sqlalchemy.orm import Session

KEY = "wishes.back_in_stock"
VARIABLES = (
    "product_name",
    "sku",
    "place",
    "online",
    "location_name",
    "city",
    "state",
    "wished_on",
)

SUBJECT = "Chegou! {{ product_name }} está disponível"
HTML = """<!doctype html>
<html lang="pt-BR"><body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2937">
<div style="max-width:560px;margin:24px auto;background:#ffffff;border-radius:8px;padding:28px">
<h1 style="font-size:20px;margin:0 0 16px">O produto que você esperava chegou</h1>
<p>Olá, {{ customer.first_name }}!</p>
<p>Você pediu para ser avisado quando <strong>{{ product_name }}</strong> voltasse ao estoque. Ele já está disponível {% if online %}para compra online{% else %}em <strong>{{ place }}</strong>{% endif %}.</p>
<p style="background:#f0fdf4;border:1px solid #bbf7d0;border-radius:6px;padding:12px">SKU <span style="font-family:'Courier New',monospace">{{ sku }}</span></p>
<p style="font-size:13px;color:#64748b">As unidades são limitadas e não ficam reservadas. Este é o único aviso deste pedido, feito em {{ wished_on }}.</p>
</div>
</body></html>
"""
TEXT = """Olá, {{ customer.first_name }}!

Você pediu para ser avisado quando {{ product_name }} voltasse ao estoque. Ele já está disponível {% if online %}para compra online{% else %}em {{ place }}{% endif %}.

SKU: {{ sku }}

As unidades são limitadas e não ficam reservadas. Este é o único aviso deste pedido, feito em {{ wished_on }}.
"""


def ensure_template(session: Session) -> None:
    """Register the back-in-stock template with messaging when absent."""
    from sincro.messaging import service as messaging

    messaging.ensure_template(
        session,
        key=KEY,
        name="Produto de volta ao estoque",
        purpose="service",
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
        variables=VARIABLES,
    )
