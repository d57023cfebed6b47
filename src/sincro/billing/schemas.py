from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel


class PaymentOut(BaseModel):
    """How to pay one receivable: the boleto's lines and the PIX copy-and-paste code."""

    receivable_id: int
    number: str
    status: str
    due_date: dt.date
    amount: Decimal
    balance: Decimal
    barcode: str
    digitable_line: str
    pix_code: str | None


class NoticeOut(BaseModel):
    step: str
    status: str
    local_date: dt.date
    created_at: dt.datetime
