"""Confirming who a customer is from what they tell a chat (the assistant): a CPF and a second
factor, the birth date or the number of one of their invoices. Part of the customers domain's
service, in a module of its own. Answers ids and booleans only: nothing personal leaves here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sincro.customers.models import Customer, Receivable


def primary_id_by_document(session: Session, document: str) -> int | None:
    """The primary record (not erased) of the person with this CPF/CNPJ (digits), or None."""
    row = session.execute(
        select(Customer.id, Customer.merged_into_id)
        .where(Customer.document == document, Customer.erased_at.is_(None))
        .order_by(Customer.merged_into_id.is_not(None), Customer.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return int(row.merged_into_id or row.id)


def _record_ids(session: Session, customer_id: int) -> list[int]:
    ids = session.scalars(
        select(Customer.id).where(
            or_(Customer.id == customer_id, Customer.merged_into_id == customer_id),
            Customer.erased_at.is_(None),
        )
    ).all()
    return list(ids)


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
        found = session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.id.in_(ids), Customer.birth_date == birth_date)
        )
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
