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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.catalog import repository
from sincro.catalog.models import ProductDocument
from sincro.catalog.search import index_documents
from sincro.db import utcnow

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
    skus = {d.sku for d in documents if d.sku}
    products = {sku: p.id for sku, p in repository.products_by_sku(session, skus).items()}
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
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(ProductDocument)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "external_id", "version"],
            set_={**{c: getattr(stmt.excluded, c) for c in _UPDATED}, "updated_at": now},
        ),
        rows,
    )
    _recompute_superseded(session, source, set(unique))
    return len(documents)


def _recompute_superseded(session: Session, source: str, written: set[tuple[str, int]]) -> None:
    """Mark every version below a document's highest as superseded (and only those), then
    index the versions just written and those whose flag changed."""
    external_ids = sorted({external_id for external_id, _ in written})
    rows = session.execute(
        select(
            ProductDocument.id,
            ProductDocument.external_id,
            ProductDocument.version,
            ProductDocument.superseded,
        ).where(ProductDocument.source == source, ProductDocument.external_id.in_(external_ids))
    ).all()
    latest: dict[str, int] = {}
    for _, external_id, version, _ in rows:
        latest[external_id] = max(version, latest.get(external_id, 0))
    flips: dict[bool, list[int]] = {True: [], False: []}
    touched = []
    for row_id, external_id, version, superseded in rows:
        should = version < latest[external_id]
        if superseded != should:
            flips[should].append(row_id)
        if superseded != should or (external_id, version) in written:
            touched.append(row_id)
    now = utcnow()
    for value, ids in flips.items():
        if ids:
            session.execute(
                update(ProductDocument)
                .where(ProductDocument.id.in_(ids))
                .values(superseded=value, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    index_documents(session, touched)


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
