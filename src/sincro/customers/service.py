"""Customers and receivables from the ERPs: upserts keyed by (source, external code).

Services take the caller's session and never commit. CPF/CNPJ and e-mail are personal data:
they are stored, never logged nor put in messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from sincro import audit
from sincro.audit import Actor, Entity
from sincro.catalog.timezones import zone_for
from sincro.customers import repository as repo
from sincro.customers.bulk import (
    CustomerBulkLoad as CustomerBulkLoad,
    CustomerRow as CustomerRow,
    ReceivableRow as ReceivableRow,
)
from sincro.customers.exceptions import CustomerNotFound, SuppressionNotFound
from sincro.customers.models import Consent, ConsentEvent, Customer, Receivable
from sincro.customers.schemas import (
    CHANNELS,
    PURPOSES,
    AudienceMember,
    ConsentChange,
    ConsentEventOut,
    ConsentOut,
    CustomerChanged,
    CustomerDetail,
    CustomerErased,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    CustomerRegistration,
    CustomerRegistrationIn,
    ReceivableIn,
    ReceivableOut,
    Registered,
    Segment,
    SuppressionIn,
    SuppressionOut,
    normalize_email,
)
from sincro.customers.visibility import View, mask_document, mask_email, mask_phone
from sincro.db import utcnow
from sincro.errors import Conflict, Forbidden
from sincro.events import publish, register_topic
from sincro.text_pt import local_time, only_digits

CUSTOMER_ERASED = "customer.erased"
CUSTOMER_CHANGED = "customer.changed"


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
    revive_suppressions(session, (r["email"] for r in rows if r["email"]))
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
        revive_suppressions(session, [data.email] if data.email else [])
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
    revive_suppressions(session, [data.email] if data.email else [])
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


def consent_clause(customer_id: Any, *, channel: str, purpose: Any) -> ColumnElement[bool]:
    """:func:`consenting` as SQL, for another domain's statement: ``customer_id`` and
    ``purpose`` may be columns of it (a row checked where it is read, no round trip)."""
    return repo.consents(customer_id, channel, purpose)


def suppression_clause(email: Any, *, purpose: Any) -> ColumnElement[bool]:
    """:func:`suppressed` as SQL, for another domain's statement: ``email`` (an address
    stored normalized) and ``purpose`` may be columns of it."""
    return repo.is_suppressed(email, purpose)


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


# --- the customers API and console: search, detail, edits, suppressions -----------------------

register_topic(CUSTOMER_ERASED, CustomerErased)
register_topic(CUSTOMER_CHANGED, CustomerChanged)


def local_today(zone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the customer lives (days overdue are counted there)."""
    return local_time(now or utcnow(), zone).date()


def days_overdue(due: dt.date | None, today: dt.date) -> int:
    return max(0, (today - due).days) if due is not None else 0


def _mask(view: View, customer: Customer) -> dict[str, Any]:
    """The personal fields of ``customer`` as ``view`` may see them."""
    return {
        "document": customer.document if view.document else mask_document(customer.document),
        "email": customer.email if view.email else mask_email(customer.email),
        "phone": customer.phone if view.phone else mask_phone(customer.phone),
        "birth_date": customer.birth_date if view.birth_date else None,
    }


def customer_out(
    customer: Customer, oldest_due: dt.date | None, view: View, grace_days: int, now: dt.datetime
) -> CustomerOut:
    zone = customer_zone(customer.state, customer.city)
    overdue = days_overdue(oldest_due, local_today(zone, now))
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        document_kind=customer.document_kind,
        city=customer.city,
        state=customer.state,
        plan=customer.plan,
        customer_since=customer.customer_since,
        source=customer.source,
        external_code=customer.external_code if view.document else "",
        merged_into_id=customer.merged_into_id,
        erased=customer.erased_at is not None,
        defaulter=overdue > grace_days,
        days_overdue=overdue,
        time_zone=zone,
        **_mask(view, customer),
    )


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """The search: ``q`` is a name (anywhere in it), a CPF/CNPJ (digits, from the start) or an
    e-mail (with ``@``, from the start); the others filter."""

    q: str = ""
    state: str | None = None
    plan: str | None = None
    defaulter: bool | None = None

    def parts(self) -> tuple[str | None, str | None, str | None]:
        text = self.q.strip()
        if not text:
            return None, None, None
        if "@" in text:
            return None, None, normalize_email(text)
        digits = only_digits(text)
        if digits and len(digits) >= 3 and not any(c.isalpha() for c in text):
            return None, digits, None
        return text, None, None


def search_customers(
    session: Session,
    query: CustomerQuery,
    view: View,
    *,
    grace_days: int,
    offset: int,
    limit: int,
    now: dt.datetime | None = None,
) -> tuple[list[CustomerOut], int]:
    """One page of primary customers matching ``query``, as ``view`` may see them. A role that
    sees documents masked cannot search by one (it would reveal it digit by digit), nor by
    e-mail when it sees e-mails masked."""
    now = now or utcnow()
    name, document, email = query.parts()
    if document and not view.document:
        raise Forbidden("this role may not search by CPF/CNPJ", field="q")
    if email and not view.email:
        raise Forbidden("this role may not search by e-mail", field="q")
    cutoff = local_today("America/Sao_Paulo", now) - dt.timedelta(days=grace_days)
    rows, total = repo.search_customers(
        session,
        name=name,
        document=document,
        email=email,
        state=query.state,
        plan=query.plan,
        defaulter=query.defaulter,
        cutoff=cutoff,
        offset=offset,
        limit=limit,
    )
    return [customer_out(c, due, view, grace_days, now) for c, due in rows], total


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = repo.get_customer(session, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def receivables_out(
    receivables: Sequence[Receivable], zone: str, now: dt.datetime
) -> list[ReceivableOut]:
    today = local_today(zone, now)
    return [
        ReceivableOut(
            id=r.id,
            number=r.number,
            source=r.source,
            external_code=r.external_code,
            issued_on=r.issued_on,
            due_date=r.due_date,
            paid_on=r.paid_on,
            status=r.status,
            amount=r.amount,
            balance=r.balance,
            days_overdue=days_overdue(r.due_date, today)
            if r.status == "open" and r.balance > 0
            else 0,
        )
        for r in receivables
    ]


def customer_detail(
    session: Session,
    customer_id: int,
    view: View,
    *,
    grace_days: int,
    now: dt.datetime | None = None,
) -> CustomerDetail:
    """A customer with its merged records' ids, consent state and history (with evidence)
    and receivables (its own and its merged records'), as ``view`` may see them."""
    now = now or utcnow()
    customer = get_customer(session, customer_id)
    ids = [customer.id, *repo.merged_ids(session, customer.id)]
    base = customer_out(customer, repo.oldest_due_of(session, ids), view, grace_days, now)
    receivables = None
    if view.receivables:
        receivables = receivables_out(repo.receivables_of(session, ids), base.time_zone, now)
    return CustomerDetail(
        **base.model_dump(),
        merged_records=ids[1:],
        consents=[ConsentOut.model_validate(c) for c in repo.consents_of(session, [customer.id])],
        consent_history=[
            ConsentEventOut.model_validate(e) for e in repo.consent_events_of(session, ids)
        ],
        receivables=receivables,
    )


def customer_receivables(
    session: Session, customer_id: int, *, now: dt.datetime | None = None
) -> list[ReceivableOut]:
    customer = get_customer(session, customer_id)
    ids = [customer.id, *repo.merged_ids(session, customer.id)]
    zone = customer_zone(customer.state, customer.city)
    return receivables_out(repo.receivables_of(session, ids), zone, now or utcnow())


def _audited_fields(customer: Customer) -> dict[str, Any]:
    return {
        "name": customer.name,
        "document": customer.document,
        "email": customer.email,
        "phone": customer.phone,
        "city": customer.city,
        "state": customer.state,
        "plan": customer.plan,
        "birth_date": customer.birth_date.isoformat() if customer.birth_date else None,
        "customer_since": (
            customer.customer_since.isoformat() if customer.customer_since else None
        ),
    }


def register(
    session: Session, data: CustomerRegistrationIn, *, actor: Actor, source: str = "api"
) -> Registered:
    """``POST /v1/customers``: register (or join the customer of the same document), record
    the consents given with their evidence, audit it and announce the change."""
    registered = register_customer(session, data.registration(), source=source)
    for consent in data.consents:
        record_consent(
            session,
            registered.customer_id,
            channel=consent.channel,
            purpose=consent.purpose,
            granted=consent.granted,
            source=consent.source,
            evidence=consent.evidence,
        )
    customer = get_customer(session, registered.customer_id)
    action = "customer.create" if registered.created else "customer.merge"
    audit.record(
        session,
        actor,
        action,
        Entity("customer", customer.id),
        after={**_audited_fields(customer), "consents": len(data.consents)},
    )
    publish(
        session, CUSTOMER_CHANGED, CustomerChanged(customer_id=customer.id, change="registered")
    )
    return registered


def update_customer(
    session: Session, customer_id: int, patch: CustomerPatch, *, actor: Actor
) -> Customer:
    """Change the fields sent (``null`` clears a contact field); erased customers stay erased."""
    customer = get_customer(session, customer_id)
    if customer.erased_at is not None:
        raise Conflict("this customer was erased (LGPD) and cannot be changed", field="customer_id")
    before = _audited_fields(customer)
    for column in patch.model_fields_set:
        setattr(customer, column, getattr(patch, column))
    if "email" in patch.model_fields_set and patch.email:
        revive_suppressions(session, [patch.email])
    session.flush()
    audit.record(
        session,
        actor,
        "customer.update",
        Entity("customer", customer.id),
        before={k: v for k, v in before.items() if k in patch.model_fields_set},
        after={k: v for k, v in _audited_fields(customer).items() if k in patch.model_fields_set},
    )
    publish(session, CUSTOMER_CHANGED, CustomerChanged(customer_id=customer.id, change="updated"))
    return customer


def change_consent(
    session: Session,
    customer_id: int,
    channel: str,
    purpose: str,
    change: ConsentChange,
    *,
    actor: Actor,
) -> Consent | None:
    """Record a consent (or its withdrawal) with its source and evidence; audited."""
    customer = get_customer(session, customer_id)
    if customer.erased_at is not None:
        raise Conflict("this customer was erased (LGPD)", field="customer_id")
    record_consent(
        session,
        customer.id,
        channel=channel,
        purpose=purpose,
        granted=change.granted,
        source=change.source,
        evidence=change.evidence,
    )
    audit.record(
        session,
        actor,
        "customer.consent",
        Entity("customer", customer.id),
        after={
            "channel": channel,
            "purpose": purpose,
            "granted": change.granted,
            "source": change.source,
        },
    )
    publish(session, CUSTOMER_CHANGED, CustomerChanged(customer_id=customer.id, change="consent"))
    return next(
        (
            c
            for c in repo.consents_of(session, [customer.id])
            if c.channel == channel and c.purpose == purpose
        ),
        None,
    )


def list_suppressions(
    session: Session, email: str | None, *, offset: int, limit: int
) -> tuple[list[SuppressionOut], int]:
    rows, total = repo.list_suppressions(session, normalize_email(email), offset, limit)
    return [SuppressionOut.model_validate(r) for r in rows], total


def add_suppression(session: Session, data: SuppressionIn, *, actor: Actor) -> SuppressionOut:
    suppress(session, data.email, reason=data.reason, purpose=data.purpose, detail=data.detail)
    row = next(s for s in repo.suppressions_of(session, [data.email]) if s.purpose == data.purpose)
    audit.record(
        session,
        actor,
        "suppression.add",
        Entity("suppression", row.id),
        after={"email": data.email, "purpose": data.purpose, "reason": data.reason},
    )
    return SuppressionOut.model_validate(row)


def remove_suppression(session: Session, suppression_id: int, *, actor: Actor) -> None:
    """Let mail reach an address again for that purpose; audited."""
    row = repo.get_suppression(session, suppression_id)
    if row is None:
        raise SuppressionNotFound()
    before = {"email": row.email, "purpose": row.purpose, "reason": row.reason}
    repo.remove_suppression(session, row.email, row.purpose)
    audit.record(
        session, actor, "suppression.remove", Entity("suppression", suppression_id), before=before
    )


# --- erased addresses stay suppressed, hashed ------------------------------------------------

HASHED_PREFIX = "sha256:"


def hashed_address(email: str) -> str:
    """How an erased person's suppressed address is kept: a SHA-256 of the normalized address
    (unkeyed, so it survives a change of the secret key)."""
    return HASHED_PREFIX + hashlib.sha256(email.encode()).hexdigest()


def revive_suppressions(session: Session, emails: Iterable[str]) -> int:
    """When an address whose owner was erased comes back (registration, import, ERP sync,
    edit), its hashed suppressions become clear again, so every check applies to it."""
    addresses = {normalize_email(e) or "" for e in emails} - {""}
    if not addresses:
        return 0
    by_hash = {hashed_address(a): a for a in addresses}
    found = {s.email for s in repo.suppressions_of(session, by_hash)}
    return repo.rename_suppressions(session, {h: by_hash[h] for h in found})
