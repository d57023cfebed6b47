"""What a customer needs to pay a receivable: the boleto, the PIX code, the PDF copy."""

from __future__ import annotations

from dataclasses import dataclass

from sincro.billing import boleto, pix
from sincro.billing.invoice_pdf import InvoiceDocument, render
from sincro.config import Settings
from sincro.customers.billing_reads import ReceivableView


@dataclass(frozen=True, slots=True)
class Payment:
    barcode: str
    digitable_line: str  # formatted as printed
    pix_code: str | None  # None when no PIX key is configured


def txid(receivable: ReceivableView) -> str:
    """The PIX transaction id: ``SINCRO`` and the receivable id (letters and digits)."""
    return f"SINCRO{receivable.id}"


def payment_for(receivable: ReceivableView, settings: Settings) -> Payment:
    free = boleto.bb_free_field(settings.billing_agreement, receivable.id, settings.billing_wallet)
    slip = boleto.build(settings.billing_bank_code, receivable.due_date, receivable.balance, free)
    code = None
    if settings.billing_pix_key:
        code = pix.br_code(
            settings.billing_pix_key,
            settings.billing_beneficiary_name,
            settings.billing_pix_city,
            amount=receivable.balance,
            txid=txid(receivable),
        )
    return Payment(slip.barcode, slip.digitable_formatted, code)


def invoice_pdf(receivable: ReceivableView, settings: Settings) -> bytes:
    pay = payment_for(receivable, settings)
    return render(
        InvoiceDocument(
            number=receivable.number,
            customer_name=receivable.customer_name,
            beneficiary_name=settings.billing_beneficiary_name,
            beneficiary_document=settings.billing_beneficiary_document,
            issued_on=receivable.issued_on,
            due_date=receivable.due_date,
            amount=receivable.amount,
            balance=receivable.balance,
            digitable_line=pay.digitable_line,
            barcode=pay.barcode,
            pix_code=pay.pix_code,
        )
    )


def pdf_filename(receivable: ReceivableView) -> str:
    safe = "".join(ch for ch in receivable.number if ch.isalnum() or ch in "-_") or receivable.id
    return f"fatura-{safe}.pdf"
