"""All SQL for customers and receivables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.automation.segments import interest_clause
from sincro.customers.models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerImport,
    CustomerImportReject,
    CustomerImportUpload,
    Receivable,
    Suppression,
)
from sincro.customers.schemas import Segment
from sincro.db import insert_rows, upsert_rows, utcnow


def customers_by_code(session: Session, source: str, codes: Iterable[str]) -> dict[str, Customer]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.scalars(
        select(Customer).where(Customer.source == source, Customer.external_code.in_(codes))
    )
    return {c.external_code: c for c in rows}


def customer_ids_by_code(session: Session, source: str, codes: Iterable[str]) -> dict[str, int]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.execute(
        select(Customer.external_code, Customer.id).where(
            Customer.source == source, Customer.external_code.in_(codes)
        )
    )
    return {code: id_ for code, id_ in rows}


def receivables_by_code(
    session: Session, source: str, codes: Iterable[str]
) -> dict[str, Receivable]:
    codes = list(set(codes))
    if not codes:
        return {}
    rows = session.scalars(
        select(Receivable).where(Receivable.source == source, Receivable.external_code.in_(codes))
    )
    return {r.external_code: r for r in rows}


def link_orphan_receivables(session: Session, source: str) -> int:
    """Point receivables that arrived before their customer at it (same source and code)."""
    customer_id = (
        select(Customer.id)
        .where(Customer.source == source, Customer.external_code == Receivable.customer_code)
        .scalar_subquery()
    )
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Receivable)
        .where(Receivable.source == source, Receivable.customer_id.is_(None))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def upsert(
    session: Session, model: type[Customer] | type[Receivable], rows: list[dict[str, Any]]
) -> None:
    """Insert or update rows keyed by (source, external_code) in one statement. An erased
    customer is never updated again (the ERP sending the person back does not undo an LGPD
    erasure)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    columns = [c for c in rows[0] if c not in ("source", "external_code", "created_at")]
    if dialect == "postgresql":  # one statement, a parameter per column (not per row)
        where = f"{model.__tablename__}.erased_at IS NULL" if model is Customer else None
        upsert_rows(session, model, rows, ("source", "external_code"), columns, where)
        return
    stmt = sqlite.insert(model)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "external_code"],
            set_={c: getattr(stmt.excluded, c) for c in columns},
            where=Customer.__table__.c.erased_at.is_(None) if model is Customer else None,
        ),
        rows,
    )


# --- merges, registration, consent, suppression, audiences ----------------------------------


def primary_by_document(session: Session, document: str) -> Customer | None:
    """The primary (not merged, not erased) customer record of a CPF/CNPJ."""
    return session.scalars(
        select(Customer)
        .where(
            Customer.document == document,
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
        )
        .order_by(Customer.id)
        .limit(1)
    ).first()


def merge_duplicates(session: Session, documents: Iterable[str] | None = None) -> int:
    """Point every non-primary record of a document at the oldest record of that document
    (lowest id); returns how many records were merged. ``documents`` narrows the work to those
    just written."""
    dupes = (
        select(Customer.document, func.min(Customer.id).label("primary_id"))
        .where(Customer.document.is_not(None), Customer.erased_at.is_(None))
        .group_by(Customer.document)
        .having(func.count() > 1)
    )
    if documents is not None:
        wanted = list(set(documents))
        if not wanted:
            return 0
        dupes = dupes.where(Customer.document.in_(wanted))
    merged = 0
    for document, primary_id in session.execute(dupes).all():
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Customer)
            .where(
                Customer.document == document,
                Customer.id != primary_id,
                Customer.erased_at.is_(None),
                or_(Customer.merged_into_id.is_(None), Customer.merged_into_id != primary_id),
            )
            .values(merged_into_id=primary_id)
            .execution_options(synchronize_session=False)
        )
        merged += int(result.rowcount or 0)
    return merged


def set_consent(
    session: Session,
    customer_ids: Iterable[int],
    *,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    evidence: str,
) -> int:
    """Record consent for many customers at once: current state upserted, evidence appended."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    now = utcnow()
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(Consent)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["customer_id", "channel", "purpose"],
            set_={"granted": stmt.excluded.granted, "updated_at": stmt.excluded.updated_at},
        ),
        [
            {
                "customer_id": i,
                "channel": channel,
                "purpose": purpose,
                "granted": granted,
                "updated_at": now,
            }
            for i in ids
        ],
    )
    session.execute(
        insert(ConsentEvent),
        [
            {
                "customer_id": i,
                "channel": channel,
                "purpose": purpose,
                "granted": granted,
                "source": source[:40],
                "evidence": evidence[:300],
                "recorded_at": now,
            }
            for i in ids
        ],
    )
    return len(ids)


def consenting(
    session: Session, customer_ids: Iterable[int], channel: str, purpose: str
) -> set[int]:
    ids = list(set(customer_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Consent.customer_id).where(
                Consent.customer_id.in_(ids), granted_for(channel, purpose)
            )
        )
    )


def granted_for(channel: Any, purpose: Any) -> ColumnElement[bool]:
    """A consent row that lets ``channel`` be used for ``purpose`` (values or columns): the
    one definition of "consents", for :func:`consenting`, audiences and other domains' SQL."""
    return and_(Consent.channel == channel, Consent.purpose == purpose, Consent.granted.is_(True))


def consents(customer_id: Any, channel: Any, purpose: Any) -> ColumnElement[bool]:
    """SQL: ``customer_id`` (a value or a column of the caller's statement) currently consents
    to ``channel`` for ``purpose``."""
    return (
        select(Consent.customer_id)
        .where(Consent.customer_id == customer_id, granted_for(channel, purpose))
        .exists()
    )


def consent_history(session: Session, customer_id: int) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.customer_id == customer_id)
            .order_by(ConsentEvent.id.desc())
        )
    )


def add_suppression(
    session: Session, email: str, *, purpose: str, reason: str, detail: str
) -> None:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(Suppression).values(
        email=email,
        purpose=purpose,
        reason=reason,
        detail=detail[:300],
        hits=1,
        created_at=utcnow(),
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["email", "purpose"],
            set_={
                "reason": stmt.excluded.reason,
                "detail": stmt.excluded.detail,
                "hits": Suppression.hits + 1,
            },
        )
    )


def remove_suppression(session: Session, email: str, purpose: str) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Suppression).where(Suppression.email == email, Suppression.purpose == purpose)
    )
    return int(result.rowcount or 0)


def suppressed(session: Session, emails: Iterable[str], purpose: str) -> set[str]:
    wanted = list(set(emails))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(Suppression.email).where(Suppression.email.in_(wanted), covers(purpose))
        )
    )


def covers(purpose: Any) -> ColumnElement[bool]:
    """A suppression that stops mail for ``purpose`` (a value or a column): its own, or every
    purpose's (``*``: hard bounces, complaints)."""
    return or_(Suppression.purpose == "*", Suppression.purpose == purpose)


def is_suppressed(email: Any, purpose: Any) -> ColumnElement[bool]:
    """SQL: the normalized address ``email`` (a value or a column of the caller's statement)
    must not get mail for ``purpose``."""
    return select(Suppression.id).where(Suppression.email == email, covers(purpose)).exists()


def oldest_open_due() -> Any:
    """Per customer, the due date of the oldest open receivable with a balance (subquery)."""
    return (
        select(
            Receivable.customer_id.label("customer_id"),
            func.min(Receivable.due_date).label("oldest_due"),
        )
        .where(Receivable.status == "open", Receivable.balance > 0)
        .group_by(Receivable.customer_id)
        .subquery("overdue")
    )


def audience_query(segment: Segment, *, today: dt.date, grace_days: int) -> Select:
    """Primary customers with an address, consent for the segment's channel and purpose, not
    suppressed, matching every filter. Ordered by id (keyset pages)."""
    overdue = oldest_open_due()
    query = (
        select(
            Customer.id,
            Customer.name,
            Customer.email,
            Customer.city,
            Customer.state,
            Customer.plan,
        )
        .join(
            Consent,
            and_(Consent.customer_id == Customer.id, granted_for(segment.channel, segment.purpose)),
        )
        .outerjoin(overdue, overdue.c.customer_id == Customer.id)
        .where(
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
            Customer.email.is_not(None),
            ~is_suppressed(Customer.email, segment.purpose),
        )
    )
    if segment.states:
        query = query.where(Customer.state.in_(segment.states))
    if segment.cities:
        query = query.where(func.lower(Customer.city).in_([c.lower() for c in segment.cities]))
    if segment.plans:
        query = query.where(Customer.plan.in_(segment.plans))
    if segment.customer_ids:
        query = query.where(Customer.id.in_(segment.customer_ids))
    if segment.interest is not None:
        query = query.where(interest_clause(segment.interest, Customer.id))
    cutoff = today - dt.timedelta(days=grace_days)
    if segment.defaulter is True:
        query = query.where(overdue.c.oldest_due < cutoff)
    elif segment.defaulter is False:
        query = query.where(or_(overdue.c.oldest_due.is_(None), overdue.c.oldest_due >= cutoff))
    if segment.min_days_overdue is not None:
        query = query.where(
            overdue.c.oldest_due <= today - dt.timedelta(days=segment.min_days_overdue)
        )
    if segment.max_days_overdue is not None:
        query = query.where(
            overdue.c.oldest_due >= today - dt.timedelta(days=segment.max_days_overdue)
        )
    return query


def audience_page(
    session: Session,
    segment: Segment,
    *,
    today: dt.date,
    grace_days: int,
    after_id: int,
    limit: int,
) -> list[Row[Any]]:
    query = audience_query(segment, today=today, grace_days=grace_days)
    return list(
        session.execute(query.where(Customer.id > after_id).order_by(Customer.id).limit(limit))
    )


def audience_count(session: Session, segment: Segment, *, today: dt.date, grace_days: int) -> int:
    query = audience_query(segment, today=today, grace_days=grace_days).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


# --- bulk load (customers.bulk: the demo operator's 200,000 customers) -----------------------
# Columns in the order :class:`sincro.customers.bulk.CustomerRow` and ``ReceivableRow`` give
# them; statements for a raw DBAPI cursor (``?`` on SQLite; COPY on PostgreSQL).

BULK_TABLES = (
    "customers",
    "receivables",
    "customer_consents",
    "customer_consent_events",
    "email_suppressions",
)
BULK_CUSTOMER_COLUMNS = (
    "id, source, external_code, name, document, document_kind, email, phone, city, state,"
    " birth_date, plan, customer_since, merged_into_id, created_at, updated_at"
)
BULK_RECEIVABLE_COLUMNS = (
    "source, external_code, number, customer_id, customer_code, issued_on, due_date, paid_on,"
    " status, amount, balance, updated_at"
)
BULK_CONSENT_COLUMNS = "customer_id, channel, purpose, granted, updated_at"
BULK_CONSENT_EVENT_COLUMNS = "customer_id, channel, purpose, granted, source, evidence, recorded_at"


def bulk_insert_sql(table: str, columns: str) -> str:
    """SQLite's one-row ``INSERT`` for ``executemany``."""
    marks = ", ".join("?" * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def bulk_copy_sql(table: str, columns: str) -> str:
    return f"COPY {table} ({columns}) FROM STDIN"


BULK_LOCK_SQL = f"LOCK TABLE {', '.join(BULK_TABLES)} IN EXCLUSIVE MODE"
BULK_ANALYZE_SQL = f"ANALYZE {', '.join(BULK_TABLES[:4])}"
# explicit ids were written: the sequence continues after the highest
BULK_CUSTOMER_SEQUENCE_SQL = (
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), COALESCE(MAX(id), 1)) FROM customers"
)
# --- the customers API: search, detail, edits, imports, LGPD ----------------------------------


def primary_overdue() -> Any:
    """Per primary customer (merged records count for their primary), the due date of the
    oldest open receivable with a balance (subquery ``customer_id``, ``oldest_due``)."""
    owner = func.coalesce(Customer.merged_into_id, Customer.id)
    return (
        select(owner.label("customer_id"), func.min(Receivable.due_date).label("oldest_due"))
        .join(Customer, Customer.id == Receivable.customer_id)
        .where(Receivable.status == "open", Receivable.balance > 0)
        .group_by(owner)
        .subquery("primary_overdue")
    )


def search_customers(
    session: Session,
    *,
    name: str | None,
    document: str | None,
    email: str | None,
    state: str | None,
    plan: str | None,
    defaulter: bool | None,
    cutoff: dt.date,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Customer, dt.date | None]], int]:
    """Primary, not erased customers matching every filter given, by name; each row is
    ``(Customer, oldest_due)``. ``name`` matches anywhere (case-insensitive), ``document`` and
    ``email`` from their start; a defaulter's oldest open due date is before ``cutoff``."""
    overdue = primary_overdue()
    query = (
        select(Customer, overdue.c.oldest_due)
        .outerjoin(overdue, overdue.c.customer_id == Customer.id)
        .where(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
    )
    if name:
        query = query.where(func.lower(Customer.name).contains(name.lower(), autoescape=True))
    if document:
        query = query.where(Customer.document.startswith(document, autoescape=True))
    if email:
        query = query.where(Customer.email.startswith(email, autoescape=True))
    if state:
        query = query.where(Customer.state == state)
    if plan:
        query = query.where(func.lower(Customer.plan) == plan.lower())
    if defaulter is True:
        query = query.where(overdue.c.oldest_due < cutoff)
    elif defaulter is False:
        query = query.where(or_(overdue.c.oldest_due.is_(None), overdue.c.oldest_due >= cutoff))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.execute(query.order_by(Customer.name, Customer.id).offset(offset).limit(limit))
    return [(row[0], row[1]) for row in rows], total


def get_customer(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def oldest_due_of(session: Session, customer_ids: list[int]) -> dt.date | None:
    return session.scalar(
        select(func.min(Receivable.due_date)).where(
            Receivable.customer_id.in_(customer_ids),
            Receivable.status == "open",
            Receivable.balance > 0,
        )
    )


def merged_ids(session: Session, customer_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Customer.id).where(Customer.merged_into_id == customer_id).order_by(Customer.id)
        )
    )


def merged_records(session: Session, customer_id: int) -> list[Customer]:
    return list(
        session.scalars(
            select(Customer).where(Customer.merged_into_id == customer_id).order_by(Customer.id)
        )
    )


def receivables_of(session: Session, customer_ids: list[int]) -> list[Receivable]:
    return list(
        session.scalars(
            select(Receivable)
            .where(Receivable.customer_id.in_(customer_ids))
            .order_by(Receivable.due_date.desc(), Receivable.id.desc())
        )
    )


def consents_of(session: Session, customer_ids: list[int]) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.customer_id.in_(customer_ids))
            .order_by(Consent.channel, Consent.purpose)
        )
    )


def consent_events_of(session: Session, customer_ids: list[int]) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.customer_id.in_(customer_ids))
            .order_by(ConsentEvent.id.desc())
        )
    )


def set_consent_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Record consents given per row (``customer_id, channel, purpose, granted, source,
    evidence``): current state upserted (the last row of a key wins), every row appended to
    the history with its own evidence."""
    if not rows:
        return 0
    now = utcnow()
    current = {(r["customer_id"], r["channel"], r["purpose"]): r["granted"] for r in rows}
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(Consent.__table__)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["customer_id", "channel", "purpose"],
            set_={"granted": stmt.excluded.granted, "updated_at": stmt.excluded.updated_at},
        ),
        [
            {"customer_id": c, "channel": ch, "purpose": p, "granted": g, "updated_at": now}
            for (c, ch, p), g in sorted(current.items())
        ],
    )
    insert_rows(
        session,
        ConsentEvent.__table__,  # type: ignore[arg-type]
        [
            {
                "customer_id": r["customer_id"],
                "channel": r["channel"],
                "purpose": r["purpose"],
                "granted": r["granted"],
                "source": r["source"][:40],
                "evidence": r["evidence"][:300],
                "recorded_at": now,
            }
            for r in rows
        ],
    )
    return len(rows)


def primaries_by_document(session: Session, documents: Iterable[str]) -> dict[str, Customer]:
    """The primary (oldest, not merged, not erased) record of each document."""
    wanted = list(set(documents))
    found: dict[str, Customer] = {}
    for start in range(0, len(wanted), 1000):
        rows = session.scalars(
            select(Customer)
            .where(
                Customer.document.in_(wanted[start : start + 1000]),
                Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None),
            )
            .order_by(Customer.id.desc())
        )
        for customer in rows:
            if customer.document:
                found[customer.document] = customer  # ascending wins: the oldest stays
    return found


def insert_customers(session: Session, source: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new customers of ``source`` whose external code is their document (COPY on
    PostgreSQL); returns their ids by document."""
    if not rows:
        return {}
    insert_rows(session, Customer.__table__, rows)  # type: ignore[arg-type]
    codes = [r["external_code"] for r in rows]
    found: dict[str, int] = {}
    for start in range(0, len(codes), 1000):
        pairs = session.execute(
            select(Customer.external_code, Customer.id).where(
                Customer.source == source,
                Customer.external_code.in_(codes[start : start + 1000]),
            )
        )
        found.update((code, id_) for code, id_ in pairs)
    return found


def update_customers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Update customers by id (each row: ``id`` plus the columns that change), one
    executemany per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        columns = tuple(sorted(k for k in row if k != "id"))
        groups.setdefault(columns, []).append({f"v_{k}": v for k, v in row.items()})
    table = Customer.__table__
    for columns, params in groups.items():
        stmt = (
            table.update()  # type: ignore[attr-defined]
            .where(table.c.id == bindparam("v_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        session.execute(stmt, params)


def list_suppressions(
    session: Session, email: str | None, offset: int, limit: int
) -> tuple[list[Suppression], int]:
    query = select(Suppression)
    if email:
        query = query.where(Suppression.email.startswith(email, autoescape=True))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.order_by(Suppression.id.desc()).offset(offset).limit(limit))
    return list(rows), total


def get_suppression(session: Session, suppression_id: int) -> Suppression | None:
    return session.get(Suppression, suppression_id)


def suppressions_of(session: Session, emails: Iterable[str]) -> list[Suppression]:
    wanted = [e for e in set(emails) if e]
    if not wanted:
        return []
    return list(
        session.scalars(
            select(Suppression).where(Suppression.email.in_(wanted)).order_by(Suppression.id)
        )
    )


def rename_suppressions(session: Session, renames: dict[str, str]) -> int:
    """Rewrite suppression addresses (clear ↔ hashed); a row whose new address already has a
    row for the same purpose is dropped (the other one keeps the suppression)."""
    changed = 0
    for old, new in renames.items():
        taken = set(session.scalars(select(Suppression.purpose).where(Suppression.email == new)))
        if taken:
            session.execute(
                delete(Suppression).where(
                    Suppression.email == old, Suppression.purpose.in_(list(taken))
                )
            )
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Suppression)
            .where(Suppression.email == old)
            .values(email=new)
            .execution_options(synchronize_session=False)
        )
        changed += int(result.rowcount or 0)
    return changed


def delete_consents(session: Session, customer_ids: list[int]) -> tuple[int, int]:
    """Delete the consent state and history of these customers; (states, events) deleted."""
    states: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Consent).where(Consent.customer_id.in_(customer_ids))
    )
    events: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ConsentEvent).where(ConsentEvent.customer_id.in_(customer_ids))
    )
    return int(states.rowcount or 0), int(events.rowcount or 0)


def new_import(session: Session, values: dict[str, Any]) -> CustomerImport:
    record = CustomerImport(**values)
    session.add(record)
    session.flush()
    return record


def get_import(session: Session, import_id: int) -> CustomerImport | None:
    return session.get(CustomerImport, import_id)


def update_import(session: Session, import_id: int, values: dict[str, Any]) -> None:
    session.execute(
        update(CustomerImport)
        .where(CustomerImport.id == import_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def add_import_rejects(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, CustomerImportReject.__table__, rows)  # type: ignore[arg-type]


def import_rejects(
    session: Session, import_id: int, limit: int | None = None
) -> list[CustomerImportReject]:
    query = (
        select(CustomerImportReject)
        .where(CustomerImportReject.import_id == import_id)
        .order_by(CustomerImportReject.line, CustomerImportReject.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def recent_imports(session: Session, limit: int) -> list[CustomerImport]:
    return list(
        session.scalars(select(CustomerImport).order_by(CustomerImport.id.desc()).limit(limit))
    )


# --- imports on the workers: the stored upload, the lease, the sweep ---------------------------

LIVE = ("queued", "running")


def store_upload(session: Session, import_id: int, content: bytes) -> None:
    session.add(CustomerImportUpload(import_id=import_id, content=content, stored_at=utcnow()))


def import_upload(session: Session, import_id: int) -> bytes | None:
    return session.scalar(
        select(CustomerImportUpload.content).where(CustomerImportUpload.import_id == import_id)
    )


def has_upload(session: Session, import_id: int) -> bool:
    return bool(session.scalar(select(_upload_of(import_id))))


def delete_upload(session: Session, import_id: int) -> None:
    session.execute(delete(CustomerImportUpload).where(CustomerImportUpload.import_id == import_id))


def _upload_of(import_id: Any) -> Any:
    return exists().where(CustomerImportUpload.import_id == import_id)


def claim_import(
    session: Session, import_id: int, worker: str, lease: dt.timedelta
) -> CustomerImport | None:
    """Take an import that is queued, or running with its lease run out, and has its upload
    (one statement: two deliveries never both win); None when it is finished, held by a live
    lease, or has no upload (a CLI import, or one the sweep gave up)."""
    now = utcnow()
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(CustomerImport)
        .where(
            CustomerImport.id == import_id,
            CustomerImport.status.in_(LIVE),
            or_(CustomerImport.lease_until.is_(None), CustomerImport.lease_until < now),
            _upload_of(CustomerImport.id),
        )
        .values(
            status="running",
            worker=worker[:120],
            lease_until=now + lease,
            attempts=CustomerImport.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return None
    return session.get(CustomerImport, import_id, populate_existing=True)


def guarded_update(
    session: Session,
    import_id: int,
    worker: str,
    values: dict[str, Any],
    *,
    processed: int | None = None,
) -> bool:
    """Update a running import only while ``worker`` holds it (and, with ``processed``, only
    at that cursor): the fence that keeps a run whose lease was taken over from writing. It
    is a batch's first statement, so it also locks the import's row until the batch commits
    (a second run waits there, then finds the cursor moved)."""
    clauses = [
        CustomerImport.id == import_id,
        CustomerImport.status == "running",
        CustomerImport.worker == worker[:120],
    ]
    if processed is not None:
        clauses.append(CustomerImport.processed_lines == processed)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(CustomerImport)
        .where(*clauses)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def idle_imports(
    session: Session, now: dt.datetime, *, progress_before: dt.datetime, sent_before: dt.datetime
) -> tuple[list[int], list[int]]:
    """Imports with an upload that nobody holds (queued, or running with the lease run out):
    (those without progress since ``progress_before``: abandoned; the others whose last task
    went out before ``sent_before``: to send again)."""
    rows = session.execute(
        select(CustomerImport.id, CustomerImport.updated_at, CustomerImport.enqueued_at)
        .where(
            CustomerImport.status.in_(LIVE),
            or_(CustomerImport.lease_until.is_(None), CustomerImport.lease_until < now),
            _upload_of(CustomerImport.id),
        )
        .order_by(CustomerImport.id)
    ).all()
    abandoned = [r.id for r in rows if r.updated_at < progress_before]
    again = [
        r.id
        for r in rows
        if r.updated_at >= progress_before
        and (r.enqueued_at is None or r.enqueued_at < sent_before)
    ]
    return abandoned, again


def mark_enqueued(session: Session, ids: list[int], now: dt.datetime) -> None:
    if ids:
        session.execute(
            update(CustomerImport)
            .where(CustomerImport.id.in_(ids))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )


def abandon_imports(session: Session, ids: list[int], error: str, now: dt.datetime) -> None:
    """Fail these imports (still unheld) and delete their uploads."""
    if not ids:
        return
    session.execute(
        update(CustomerImport)
        .where(
            CustomerImport.id.in_(ids),
            CustomerImport.status.in_(LIVE),
            or_(CustomerImport.lease_until.is_(None), CustomerImport.lease_until < now),
        )
        .values(status="failed", error=error[:300], finished_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(CustomerImportUpload).where(
            CustomerImportUpload.import_id.in_(ids),
            CustomerImportUpload.import_id.in_(
                select(CustomerImport.id).where(CustomerImport.status == "failed")
            ),
        )
    )


def has_uploads(session: Session) -> bool:
    """Is any import's upload stored? (Everything the sweep acts on has one.)"""
    return session.scalar(select(CustomerImportUpload.import_id).limit(1)) is not None


def delete_finished_uploads(session: Session) -> int:
    """Uploads whose import is done or failed (normally deleted with the finish already)."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(CustomerImportUpload).where(
            CustomerImportUpload.import_id.in_(
                select(CustomerImport.id).where(CustomerImport.status.not_in(LIVE))
            )
        )
    )
    return int(result.rowcount or 0)
