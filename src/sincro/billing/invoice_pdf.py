"""A PDF copy of an invoice in pt-BR: amounts, due date, the boleto (digitable line and its
Interleaved 2 of 5 barcode) and the PIX copy-and-paste code with its QR image.

fpdf2 (pure Python, no system packages) draws the page with its core Helvetica font, which
covers every Portuguese letter (cp1252); segno draws the QR code as PNG without Pillow.
Deterministic: the same invoice gives the same bytes (creation date fixed to the issue).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import segno
from fpdf import FPDF

from sincro.text_pt import money_br


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    number: str
    customer_name: str
    beneficiary_name: str
    beneficiary_document: str
    issued_on: dt.date | None
    due_date: dt.date
    amount: Decimal
    balance: Decimal
    digitable_line: str  # formatted
    barcode: str  # 44 digits
    pix_code: str | None


def _date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "-"


def render(doc: InvoiceDocument) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(
        dt.datetime.combine(doc.issued_on or doc.due_date, dt.time(), tzinfo=dt.UTC)
    )
    pdf.set_title(f"Fatura {doc.number}")
    pdf.set_author(doc.beneficiary_name)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font("helvetica", "B", 16)
    pdf.cell(width, 9, doc.beneficiary_name, new_x="LMARGIN", new_y="NEXT")
    if doc.beneficiary_document:
        pdf.set_font("helvetica", "", 9)
        pdf.cell(width, 5, f"CNPJ {doc.beneficiary_document}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("helvetica", "B", 13)
    pdf.cell(width, 8, f"Fatura nº {doc.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    pdf.cell(width, 6, f"Cliente: {doc.customer_name}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    rows = (
        ("Emissão", _date(doc.issued_on)),
        ("Vencimento", _date(doc.due_date)),
        ("Valor da fatura", money_br(doc.amount)),
        ("Valor a pagar", money_br(doc.balance)),
    )
    for label, value in rows:
        pdf.set_font("helvetica", "", 11)
        pdf.cell(50, 7, label, border="B")
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(width - 50, 7, value, border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)

    pdf.set_font("helvetica", "B", 12)
    pdf.cell(width, 7, "Boleto: linha digitável", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("courier", "B", 12)
    pdf.cell(width, 8, doc.digitable_line, new_x="LMARGIN", new_y="NEXT")
    pdf.interleaved2of5(doc.barcode, pdf.l_margin, pdf.get_y() + 2, w=0.75, h=13)
    pdf.set_y(pdf.get_y() + 20)

    if doc.pix_code:
        pdf.set_font("helvetica", "B", 12)
        pdf.cell(width, 7, "PIX copia e cola", new_x="LMARGIN", new_y="NEXT")
        top = pdf.get_y()
        png = io.BytesIO()
        segno.make(doc.pix_code, error="m").save(png, kind="png", scale=4, border=2)
        png.seek(0)
        pdf.image(png, x=pdf.l_margin, y=top, w=40, h=40)
        pdf.set_xy(pdf.l_margin + 45, top)
        pdf.set_font("courier", "", 8)
        pdf.multi_cell(width - 45, 4, _breakable(doc.pix_code))
        pdf.set_y(max(pdf.get_y(), top + 42))
        pdf.set_font("helvetica", "", 9)
        pdf.multi_cell(
            width,
            5,
            "Abra o app do seu banco, escolha Pix > Pix copia e cola e cole o código acima, "
            "ou leia o QR code.",
        )
    pdf.ln(4)
    pdf.set_font("helvetica", "I", 8)
    pdf.multi_cell(
        width,
        4,
        "Após o vencimento podem incidir multa e juros conforme o contrato. "
        "Se você já pagou, desconsidere esta cobrança.",
    )
    return bytes(pdf.output())


def _breakable(code: str, size: int = 60) -> str:
    """The code in lines of ``size`` characters (a PIX code has no spaces to wrap at)."""
    return "\n".join(code[i : i + size] for i in range(0, len(code), size))
