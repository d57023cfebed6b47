"""HTTP API of billing: how to pay a receivable, its invoice PDF and its notices (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from sincro.billing import service
from sincro.billing.schemas import NoticeOut, PaymentOut
from sincro.deps import AdminKey, StateDep, row_id_path

router = APIRouter(prefix="/v1/billing", tags=["billing"])
ReceivableId = Annotated[int, row_id_path("Receivable id")]


@router.get("/receivables/{receivable_id}/payment", response_model=PaymentOut)
def payment(receivable_id: ReceivableId, state: StateDep, _key: AdminKey) -> PaymentOut:
    """The boleto (44-digit barcode, 47-digit digitable line as printed) and the PIX
    copy-and-paste code (absent when no ``SINCRO_BILLING_PIX_KEY`` is set) of a receivable."""
    with state.db.read() as session:
        found = service.receivable(session, receivable_id)
        pay = service.payment(session, receivable_id, state.settings)
    return PaymentOut(
        receivable_id=found.id,
        number=found.number,
        status=found.status,
        due_date=found.due_date,
        amount=found.amount,
        balance=found.balance,
        barcode=pay.barcode,
        digitable_line=pay.digitable_line,
        pix_code=pay.pix_code,
    )


@router.get(
    "/receivables/{receivable_id}/invoice.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def invoice_pdf(receivable_id: ReceivableId, state: StateDep, _key: AdminKey) -> Response:
    """A PDF copy of the invoice in pt-BR (amounts, due date, boleto, PIX with its QR code)."""
    with state.db.read() as session:
        name, data = service.invoice(session, receivable_id, state.settings)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get("/receivables/{receivable_id}/notices", response_model=list[NoticeOut])
def notices(receivable_id: ReceivableId, state: StateDep, _key: AdminKey) -> list[NoticeOut]:
    """The dunning steps recorded for a receivable, in order."""
    with state.db.read() as session:
        service.receivable(session, receivable_id)
        found = service.notices_for(session, [receivable_id]).get(receivable_id, [])
        return [
            NoticeOut(
                step=n.step, status=n.status, local_date=n.local_date, created_at=n.created_at
            )
            for n in found
        ]
