"""Customers' part of LGPD export and erasure (``personal_data`` of the customers domain; the
kernel's :mod:`sincro.privacy` calls it last, audits, and the caller commits).

Erasure anonymizes what billing must keep and deletes the rest:

- the customer record and every record merged into it keep their rows (receivables reference
  them and stay, with amounts and dates, for accounting), with the name replaced by
  "Titular removido", document, e-mail, phone and birth date blanked, an external code that
  was the document replaced, and ``erased_at`` set; city, UF, plan and customer-since stay
  (regional and billing reports count them; alone they do not identify a person);
- consent state and history are deleted (the consent no longer has a holder);
- suppressions of the person's addresses are kept, hashed (``sha256:<hex>``): keeping them
  protects the person from being mailed again if their address comes back (a purchased list,
  an old export); the clear address is gone, and it is restored only if the same address is
  registered again (:func:`sincro.customers.service.revive_suppressions`);
- ``customer.erased`` is published so domains that cache personal data drop it.

A second erasure changes nothing (zero anonymized, deleted or hashed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.customers import repository as repo
from sincro.customers.models import Customer
from sincro.customers.schemas import CustomerErased
from sincro.customers.service import (
    CUSTOMER_ERASED,
    get_customer,
    hashed_address,
)
from sincro.db import utcnow
from sincro.events import publish

ERASED_NAME = "Titular removido"


def person_records(session: Session, customer_id: int) -> list[Customer]:
    """The records of one person: the primary (the one ``customer_id`` is merged into, if
    any) first, then every record merged into it."""
    customer = get_customer(session, customer_id)
    if customer.merged_into_id is not None:
        primary = repo.get_customer(session, customer.merged_into_id)
        if primary is not None:
            customer = primary
    return [customer, *repo.merged_records(session, customer.id)]


def _customer_dict(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "source": c.source,
        "external_code": c.external_code,
        "name": c.name,
        "document": c.document,
        "document_kind": c.document_kind,
        "email": c.email,
        "phone": c.phone,
        "city": c.city,
        "state": c.state,
        "birth_date": c.birth_date,
        "plan": c.plan,
        "customer_since": c.customer_since,
        "merged_into_id": c.merged_into_id,
        "erased_at": c.erased_at,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, bool | int | float | str):
        return str(value)  # Decimal
    return value


class CustomersPersonalData:
    """``export`` and ``erase`` for the kernel's privacy hook."""

    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        records = person_records(session, customer_id)
        ids = [c.id for c in records]
        emails = {c.email for c in records if c.email}
        return _json(
            {
                "customer": _customer_dict(records[0]),
                "merged_records": [_customer_dict(c) for c in records[1:]],
                "consents": [
                    {
                        "customer_id": c.customer_id,
                        "channel": c.channel,
                        "purpose": c.purpose,
                        "granted": c.granted,
                        "updated_at": c.updated_at,
                    }
                    for c in repo.consents_of(session, ids)
                ],
                "consent_history": [
                    {
                        "customer_id": e.customer_id,
                        "channel": e.channel,
                        "purpose": e.purpose,
                        "granted": e.granted,
                        "source": e.source,
                        "evidence": e.evidence,
                        "recorded_at": e.recorded_at,
                    }
                    for e in repo.consent_events_of(session, ids)
                ],
                "receivables": [
                    {
                        "customer_id": r.customer_id,
                        "number": r.number,
                        "source": r.source,
                        "external_code": r.external_code,
                        "issued_on": r.issued_on,
                        "due_date": r.due_date,
                        "paid_on": r.paid_on,
                        "status": r.status,
                        "amount": r.amount,
                        "balance": r.balance,
                    }
                    for r in repo.receivables_of(session, ids)
                ],
                "suppressions": [
                    {
                        "email": s.email,
                        "purpose": s.purpose,
                        "reason": s.reason,
                        "created_at": s.created_at,
                    }
                    for s in repo.suppressions_of(session, emails)
                ],
            }
        )

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        records = person_records(session, customer_id)
        pending = [c for c in records if c.erased_at is None]
        ids = [c.id for c in records]
        emails = {c.email for c in records if c.email}
        consents, consent_events = repo.delete_consents(session, ids)
        hashed = repo.rename_suppressions(session, {e: hashed_address(e) for e in emails})
        now = utcnow()
        for c in pending:
            if c.document and c.external_code == c.document:
                c.external_code = f"removido-{c.id}"
            c.name = ERASED_NAME
            c.document = c.document_kind = c.email = c.phone = None
            c.birth_date = None
            c.erased_at = now
        session.flush()
        if pending:
            publish(
                session,
                CUSTOMER_ERASED,
                CustomerErased(customer_id=ids[0], merged_ids=ids[1:]),
            )
        return {
            "customers_anonymized": len(pending),
            "consents_deleted": consents,
            "consent_events_deleted": consent_events,
            "suppressions_hashed": hashed,
            "receivables_kept": len(repo.receivables_of(session, ids)),
        }


PERSONAL_DATA = CustomersPersonalData()
