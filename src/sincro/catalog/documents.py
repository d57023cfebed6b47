"""Product documents (datasheets, leaflets, manuals) from an ERP or PIM, with versions.

Each (source, external id, version) is one row. The highest version of a document is current;
every older one is marked ``superseded`` — also when versions arrive out of order. Applying
the same version again updates it in place (idempotent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from sincro.catalog.models import ProductDocument
from sincro.catalog.search import (
    IndexedDocument,
    index_document_rows,
    set_documents_superseded,
)
from sincro.catalog.service import product_ids
from sincro.db import analyse_once, strings_in, upsert_rows, utcnow

KINDS = frozenset({"datasheet", "leaflet", "manual"})


@dataclass(frozen=True, slots=True)
class DocumentIn:
    external_id: str
    title: str
    body: str
    version: int = 1
    sku: str | None = None
    language: str = "pt-BR"
    effective_date: dt.date | None = None
    kind: str = "datasheet"

    @classmethod
    def of(cls, record: dict[str, Any]) -> DocumentIn:
        """Build from a canonical record; ValueError names the field that is wrong."""
        version = record.get("version") or 1
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"version|version must be a positive integer, got {version!r}")
        kind = record.get("kind") or "datasheet"
        if kind not in KINDS:
            raise ValueError(f"kind|kind must be one of {', '.join(sorted(KINDS))}")
        return cls(
            external_id=str(record["external_id"])[:80],
            title=str(record["title"])[:300],
            body=str(record["body"]),
            version=version,
            sku=(record.get("sku") or None),
            language=str(record.get("language") or "pt-BR")[:8],
            effective_date=record.get("effective_date"),
            kind=kind,
        )


_UPDATED = ("title", "body", "language", "effective_date", "kind", "sku", "product_id")


def apply_documents(session: Session, source: str, documents: Sequence[DocumentIn]) -> int:
    """Upsert document versions of ``source`` and recompute ``superseded`` of the documents
    touched; returns how many versions were applied. Two statements per call, whatever its
    size: an INSERT … ON CONFLICT of the versions, an UPDATE of ``superseded``."""
    if not documents:
        return 0
    products = product_ids(session, {d.sku for d in documents if d.sku})
    now = utcnow()
    unique = {(d.external_id, d.version): d for d in documents}
    rows = [
        {
            "source": source,
            "external_id": d.external_id,
            "version": d.version,
            "title": d.title,
            "body": d.body,
            "language": d.language,
            "effective_date": d.effective_date,
            "kind": d.kind,
            "sku": d.sku,
            "product_id": products.get(d.sku) if d.sku else None,
            "superseded": False,
            "created_at": now,
            "updated_at": now,
        }
        for d in unique.values()
    ]
    dialect = session.get_bind().dialect.name
    conflict = ("source", "external_id", "version")
    if dialect == "postgresql":  # one statement, a parameter per column (114,000 versions)
        upsert_rows(session, ProductDocument, rows, conflict, (*_UPDATED, "updated_at"))
    else:
        stmt = sqlite.insert(ProductDocument)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=list(conflict),
                set_={**{c: getattr(stmt.excluded, c) for c in _UPDATED}, "updated_at": now},
            ),
            rows,
        )
    analyse_once(session, ProductDocument.__tablename__)  # before the lookup by page's ids
    _recompute_superseded(session, source, unique)
    return len(documents)


def _recompute_superseded(
    session: Session, source: str, written: dict[tuple[str, int], DocumentIn]
) -> None:
    """Mark every version below a document's highest as superseded (and only those), then
    index the versions just written and set the flag of older versions whose flag changed.
    The SELECT of the documents' versions reads their flags only: the index takes the text
    of the versions just written from ``written`` (as stored); an older version's index row
    keeps its terms and only its flag changes (its text is neither read back nor analysed)."""
    external_ids = sorted({external_id for external_id, _ in written})
    d = ProductDocument
    rows = session.execute(
        select(d.id, d.external_id, d.version, d.superseded).where(
            d.source == source, strings_in(session, d.external_id, external_ids)
        )
    ).all()
    latest: dict[str, int] = {}
    for row in rows:
        latest[row.external_id] = max(row.version, latest.get(row.external_id, 0))
    flips: dict[bool, list[int]] = {True: [], False: []}
    touched = []
    others: dict[int, bool] = {}  # versions not written now whose flag changes
    for row in rows:
        should = row.version < latest[row.external_id]
        if row.superseded != should:
            flips[should].append(row.id)
        doc = written.get((row.external_id, row.version))
        if doc is not None:
            touched.append(
                IndexedDocument(row.id, doc.kind, doc.sku, doc.title, doc.body, row.version, should)
            )
        elif row.superseded != should:
            others[row.id] = should
    now = utcnow()
    for value, ids in flips.items():
        if ids:
            session.execute(
                update(ProductDocument)
                .where(ProductDocument.id.in_(ids))
                .values(superseded=value, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    index_document_rows(session, touched)
    set_documents_superseded(session, others)


def current_document(session: Session, source: str, external_id: str) -> ProductDocument | None:
    """The current (not superseded) version of a document."""
    return session.scalar(
        select(ProductDocument).where(
            ProductDocument.source == source,
            ProductDocument.external_id == external_id,
            ProductDocument.superseded.is_(False),
        )
    )


def get_document(session: Session, document_id: int) -> ProductDocument | None:
    """One document version by id (any version: a link names the version it showed)."""
    return session.get(ProductDocument, document_id)
