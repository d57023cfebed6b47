"""Finding a customer by id or e-mail for other domains (the wish list, the assistant):
part of the customers domain's service, in a module of its own. E-mail is personal data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sincro.customers import reads_repository as repo
from sincro.customers.schemas import normalize_email
from sincro.customers.service import customer_zone


@dataclass(frozen=True, slots=True)
class Contact:
    customer_id: int
    name: str
    email: str | None
    state: str | None
    city: str | None
    time_zone: str


def find_customer(
    session: Session, *, customer_id: int | None = None, email: str | None = None
) -> Contact | None:
    """A known, not erased customer by id, else by e-mail (normalized; a merged duplicate's
    address finds the primary first). None when unknown."""
    row = repo.customer_contact(session, customer_id=customer_id, email=normalize_email(email))
    if row is None:
        return None
    return Contact(
        row.id, row.name, row.email, row.state, row.city, customer_zone(row.state, row.city)
    )


def customer_names(session: Session, customer_ids: Sequence[int]) -> dict[int, str]:
    """Names of customers by id (for lists in the console)."""
    return repo.customer_names(session, customer_ids)
