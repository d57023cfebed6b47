"""LGPD: one customer's data exported, or erased on request, across every domain.

A domain that keeps something about a customer declares ``personal_data="module:OBJ"`` in its
:class:`~sincro.domain.Domain`; ``OBJ`` has ``export(session, customer_id) -> dict`` (what the
domain holds, JSON-serialisable) and ``erase(session, customer_id) -> dict[str, int]`` (what it
removed or anonymized, counted). :func:`export_customer` and :func:`erase_customer` call them
in one transaction, the ``customers`` domain last (the others may still need to read the
customer while they erase), and record one audit entry; the caller commits.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from sincro import audit
from sincro.domain import resolve
from sincro.domains import installed

OWNER = "customers"  # the domain that owns the customer record itself: handled last


class PersonalData(Protocol):
    def export(self, session: Session, customer_id: int) -> dict[str, Any]: ...

    def erase(self, session: Session, customer_id: int) -> dict[str, int]: ...


def holders() -> list[tuple[str, PersonalData]]:
    """Every installed domain's personal-data handler, the owner of customers last."""
    found = [(d.name, resolve(d.personal_data)) for d in installed() if d.personal_data]
    return sorted(found, key=lambda pair: pair[0] == OWNER)


def export_customer(session: Session, customer_id: int, actor: audit.Actor) -> dict[str, Any]:
    """Everything Sincro keeps about one customer, by domain (an audited read)."""
    sections = {name: holder.export(session, customer_id) for name, holder in holders()}
    audit.record(
        session,
        actor,
        "customer.exported",
        audit.Entity("customer", customer_id),
        after={"sections": sorted(sections)},
    )
    return sections


def erase_customer(
    session: Session, customer_id: int, actor: audit.Actor, reason: str
) -> dict[str, dict[str, int]]:
    """Erase or anonymize one customer everywhere (what billing must keep stays, without the
    person); idempotent. Returns the counts per domain; audited with the reason."""
    counts = {name: holder.erase(session, customer_id) for name, holder in holders()}
    audit.record(
        session,
        actor,
        "customer.erased",
        audit.Entity("customer", customer_id),
        after={"reason": reason[:200], "counts": counts},
    )
    return counts
