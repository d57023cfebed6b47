"""Customers and receivables from the ERPs: upserts keyed by (source, external code).

Services take the caller's session and never commit. CPF/CNPJ and e-mail are personal data:
they are stored, never logged nor put in messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from sincro.catalog.timezones import zone_for
from sincro.customers import repository as repo
from sincro.customers.bulk import (
    CustomerBulkLoad as CustomerBulkLoad,
    CustomerRow as CustomerRow,
    ReceivableRow as ReceivableRow,
)
from sincro.customers.models import ConsentEvent, Customer, Receivable
from sincro.customers.schemas import (
    CHANNELS,
    PURPOSES,
    AudienceMember,
    CustomerIn,
    CustomerRegistration,
    ReceivableIn,
    Registered,
    Segment,
    normalize_email,
)
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
            "birth_date": c.birth_date,
            "plan": c.plan,
            "customer_since": c.customer_since,
            "erp_updated_at": c.updated_at,
            "created_at": now,
            "updated_at": now,
        }
        for c in {c.code: c for c in items}.values()
    ]
    repo.upsert(session, Customer, rows)
    repo.merge_duplicates(session, [r["document"] for r in rows if r["document"]])
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
            "number": r.number,
            "issued_on": r.issued,
            "due_date": r.due_date,
            "paid_on": r.paid,
            "status": r.resolved_status(),
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


# --- registration, consent, suppression, audiences ------------------------------------------


def register_customer(session: Session, data: CustomerRegistration, *, source: str) -> Registered:
    """Register a person (API, CSV import, sign-up inbox). A document already known joins
    that customer: contact details given now replace the old ones, blanks never erase."""
    existing = repo.primary_by_document(session, data.document)
    if existing is not None:
        for column, value in (
            ("email", data.email),
            ("phone", data.phone),
            ("city", data.city),
            ("state", data.state),
            ("birth_date", data.birth_date),
            ("plan", data.plan_interest if existing.plan is None else None),
            ("customer_since", data.customer_since if existing.customer_since is None else None),
        ):
            if value is not None:
                setattr(existing, column, value)
        existing.name = data.name
        session.flush()
        return Registered(customer_id=existing.id, created=False)
    customer = Customer(
        source=source[:40],
        external_code=data.document,
        name=data.name,
        document=data.document,
        document_kind="cpf" if len(data.document) == 11 else "cnpj",
        email=data.email,
        phone=data.phone,
        city=data.city,
        state=data.state,
        birth_date=data.birth_date,
        plan=data.plan_interest,
        customer_since=data.customer_since or dt.date.today(),
    )
    session.add(customer)
    session.flush()
    return Registered(customer_id=customer.id, created=True)


def _check_consent_words(channel: str, purpose: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")


def record_consent(
    session: Session,
    customer_id: int,
    *,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    evidence: str,
) -> None:
    """Record a customer's consent (or its withdrawal) with what proves it."""
    _check_consent_words(channel, purpose)
    repo.set_consent(
        session,
        [customer_id],
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        evidence=evidence,
    )


def record_consents(
    session: Session,
    customer_ids: Iterable[int],
    *,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    evidence: str,
) -> int:
    """:func:`record_consent` for many customers in two statements (imports, demo load)."""
    _check_consent_words(channel, purpose)
    return repo.set_consent(
        session,
        customer_ids,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        evidence=evidence,
    )


def consenting(
    session: Session, customer_ids: Iterable[int], *, channel: str, purpose: str
) -> set[int]:
    """Which of ``customer_ids`` currently consent to ``channel`` for ``purpose``."""
    return repo.consenting(session, customer_ids, channel, purpose)


def consent_history(session: Session, customer_id: int) -> list[ConsentEvent]:
    """Every consent change of a customer with its evidence, newest first."""
    return repo.consent_history(session, customer_id)


def suppress(
    session: Session, email: str, *, reason: str, purpose: str = "*", detail: str = ""
) -> None:
    """Stop mail to ``email`` for ``purpose`` (``*``: every purpose, as for hard bounces and
    complaints)."""
    address = normalize_email(email)
    if not address:
        raise ValueError("empty address")
    if purpose != "*" and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    repo.add_suppression(session, address, purpose=purpose, reason=reason, detail=detail)


def unsuppress(session: Session, email: str, *, purpose: str = "*") -> bool:
    address = normalize_email(email) or ""
    return repo.remove_suppression(session, address, purpose) > 0


def suppressed(session: Session, emails: Iterable[str], *, purpose: str) -> set[str]:
    """Which of ``emails`` (normalized) must not get mail for ``purpose``."""
    return repo.suppressed(session, (normalize_email(e) or "" for e in emails), purpose)


def customer_zone(state: str | None, city: str | None) -> str:
    """The IANA zone a customer's local times (quiet hours, due dates) are read in."""
    return zone_for(state or "", city or "")


def audience_page(
    session: Session,
    segment: Segment,
    *,
    today: dt.date,
    grace_days: int,
    after_id: int = 0,
    limit: int = 1000,
) -> list[AudienceMember]:
    """One keyset page of a segment's members (ids greater than ``after_id``, ascending)."""
    rows = repo.audience_page(
        session, segment, today=today, grace_days=grace_days, after_id=after_id, limit=limit
    )
    return [
        AudienceMember(
            customer_id=r.id,
            name=r.name,
            email=r.email,
            city=r.city,
            state=r.state,
            plan=r.plan,
            time_zone=customer_zone(r.state, r.city),
        )
        for r in rows
    ]


def audience_count(session: Session, segment: Segment, *, today: dt.date, grace_days: int) -> int:
    """How many customers a segment reaches now."""
    return repo.audience_count(session, segment, today=today, grace_days=grace_days)


def merge_duplicates(session: Session) -> int:
    """Merge every document's records into its oldest one (after bulk loads)."""
    return repo.merge_duplicates(session)
