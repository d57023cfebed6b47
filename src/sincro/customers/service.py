"""Customers and receivables from the ERPs: upserts keyed by (source, external code).

Services take the caller's session and never commit. CPF/CNPJ and e-mail are personal data:
they are stored, never logged nor put in messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from sincro.customers import repository as repo
from sincro.customers.models import Customer, Receivable
from sincro.customers.schemas import CustomerIn, ReceivableIn
from sincro.db import utcnow


@dataclass(frozen=True, slots=True)
class Invalid:
    """A record the schema refused: which record, which field, why."""

    key: str
    field: str
    rule: str
    message: str


def _validate(
    model: type[BaseModel], records: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[Any], list[Invalid]]:
    good, bad = [], []
    for key, record in records:
        try:
            good.append(model.model_validate(record))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            bad.append(Invalid(key, field, first["type"], first["msg"]))
    return good, bad


def upsert_customers(
    session: Session, source: str, records: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[int, list[Invalid]]:
    """Insert or update customers of ``source``; returns (applied, invalid records)."""
    items, invalid = _validate(CustomerIn, records)
    now = utcnow()
    rows = [
        {
            "source": source,
            "external_code": c.code,
            "name": c.name,
            "document": c.document,
            "document_kind": c.document_kind,
            "email": c.email,
            "phone": c.phone,
            "city": c.city,
            "state": c.state,
            "erp_updated_at": c.updated_at,
            "created_at": now,
            "updated_at": now,
        }
        for c in {c.code: c for c in items}.values()
    ]
    repo.upsert(session, Customer, rows)
    return len(items), invalid


def upsert_receivables(
    session: Session, source: str, records: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[int, list[Invalid]]:
    """Insert or update receivables, linked to their customer when it is already known."""
    items, invalid = _validate(ReceivableIn, records)
    customer_ids = repo.customer_ids_by_code(session, source, (r.customer_code for r in items))
    now = utcnow()
    rows = [
        {
            "source": source,
            "external_code": r.code,
            "customer_id": customer_ids.get(r.customer_code),
            "customer_code": r.customer_code,
            "issued_on": r.issued,
            "due_date": r.due_date,
            "amount": r.amount,
            "balance": r.balance,
            "erp_updated_at": r.updated_at,
            "updated_at": now,
        }
        for r in {r.code: r for r in items}.values()
    ]
    repo.upsert(session, Receivable, rows)
    return len(items), invalid


def link_orphan_receivables(session: Session, source: str) -> int:
    """Link receivables that arrived before their customer; returns how many were looked at."""
    return repo.link_orphan_receivables(session, source)
