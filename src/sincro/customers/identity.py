"""Confirming who a customer is from what they tell a chat (the assistant): a CPF and a second
factor, the birth date or the number of one of their invoices. Part of the customers domain's
service, in a module of its own. Answers ids and booleans only: nothing personal leaves here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session

from sincro.customers.models import Customer, Receivable

# A chat's identity steps run these: built once (a build per call cost ~0.1-0.3 ms of CPU).
_BY_DOCUMENT = (
    select(Customer.id, Customer.merged_into_id)
    .where(Customer.document == bindparam("document"), Customer.erased_at.is_(None))
    .order_by(Customer.merged_into_id.is_not(None), Customer.id)
    .limit(1)
)
_RECORD_IDS = select(Customer.id).where(
    or_(
        Customer.id == bindparam("customer_id", type_=Integer),
        Customer.merged_into_id == bindparam("customer_id", type_=Integer),
    ),
    Customer.erased_at.is_(None),
)
_BIRTH_DATE_OF = (
    select(func.count())
    .select_from(Customer)
    .where(
        Customer.id.in_(bindparam("ids", expanding=True, type_=Integer)),
        Customer.birth_date == bindparam("birth_date"),
    )
)


def primary_id_by_document(session: Session, document: str) -> int | None:
    """The primary record (not erased) of the person with this CPF/CNPJ (digits), or None."""
    row = session.execute(_BY_DOCUMENT, {"document": document}).first()
    if row is None:
        return None
    return int(row.merged_into_id or row.id)


def _record_ids(session: Session, customer_id: int) -> list[int]:
    return list(session.scalars(_RECORD_IDS, {"customer_id": customer_id}).all())


def second_factor_matches(
    session: Session,
    customer_id: int,
    *,
    birth_date: dt.date | None = None,
    invoice: str | None = None,
) -> bool:
    """Whether ``birth_date`` is the person's (any of their records), or ``invoice`` the
    number (or the ERP code) of one of their receivables."""
    ids = _record_ids(session, customer_id)
    if not ids:
        return False
    if birth_date is not None:
        found = session.scalar(_BIRTH_DATE_OF, {"ids": ids, "birth_date": birth_date})
        if found:
            return True
    if invoice and invoice.strip("0"):
        # "123" is the invoice printed "000000123": compared without leading zeros
        bare = invoice.lstrip("0")
        found = session.scalar(
            select(func.count())
            .select_from(Receivable)
            .where(
                Receivable.customer_id.in_(ids),
                or_(
                    func.ltrim(Receivable.number, "0") == bare,
                    Receivable.external_code == invoice,
                ),
            )
        )
        if found:
            return True
    return False
