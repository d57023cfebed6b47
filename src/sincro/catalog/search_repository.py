"""All SQL of the search index (tables created by migration ``0006_search``).

The text arriving here is already folded, tokenised and stemmed by :mod:`sincro.catalog.search`
(terms are ``[a-z0-9]+`` joined by spaces), so each database only matches and ranks:

- SQLite: the FTS5 table ``search_fts`` (``title_terms``, ``body_terms``, ``kind``), whose rowid
  is the entry id; ``rank`` is configured as ``bm25(10, 1, 0)``: a title hit weighs ten times a
  body hit. The best ``pool`` rows by bm25 are then re-scored with the bonuses below.
- PostgreSQL: ``search_entries.tsv``, built with the ``simple`` configuration (no stemming, no
  stop words: the terms are used as given) from the title terms (weight A) and the body terms
  (weight D), a GIN index, and ``ts_rank`` with its default weights (A = 1.0, D = 0.1).

Both multiply the relevance by 0.5 for a superseded version, keep the best ``POOL`` rows and
multiply those by the same bonuses: every typed term matched exactly (not only through a typo
correction), the typed terms as a phrase, every typed term in the title (SQLite computes them
in Python from the stored stemmed text, PostgreSQL with ``@@`` on the pool's tsvectors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sincro.catalog.models import Product, ProductDocument
from sincro.db import BinaryArray, ids_param

DOCUMENT = "document"
PRODUCT = "product"
EXACT_BONUS = 2.0
PHRASE_BONUS = 1.5
TITLE_BONUS = 1.5
SUPERSEDED_FACTOR = 0.5
POOL = 50
CANDIDATES = 1000
MAX_WORD_LENGTH = 40


def entry_id(entity: str, entity_id: int) -> int:
    """The index row of a document (``id * 2``) or a product (``id * 2 + 1``)."""
    return entity_id * 2 + (1 if entity == PRODUCT else 0)


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


@dataclass(frozen=True, slots=True)
class IndexRow:
    entity: str
    entity_id: int
    kind: str
    sku: str | None
    title: str
    version: int
    superseded: bool
    title_terms: str
    body_terms: str

    @property
    def id(self) -> int:
        return entry_id(self.entity, self.entity_id)


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """What to look for: per typed term, its stem and the stems of close vocabulary words."""

    groups: tuple[tuple[str, ...], ...]
    require_all: bool = True
    kind: str | None = None  # product | document | datasheet | leaflet | manual

    @property
    def exact(self) -> tuple[str, ...]:
        return tuple(group[0] for group in self.groups)

    @property
    def has_alternatives(self) -> bool:
        return any(len(group) > 1 for group in self.groups)


@dataclass(frozen=True, slots=True)
class MatchRow:
    entry_id: int
    entity: str
    entity_id: int
    kind: str
    sku: str | None
    title: str
    version: int
    superseded: bool
    score: float


# --- writing the index ----------------------------------------------------------------------


def upsert(session: Session, rows: Sequence[IndexRow], now: dt.datetime) -> None:
    """Insert or replace index rows."""
    if not rows:
        return
    params = [
        {
            "id": row.id,
            "entity": row.entity,
            "entity_id": row.entity_id,
            "kind": row.kind,
            "sku": row.sku,
            "title": row.title[:300],
            "version": row.version,
            "superseded": row.superseded,
            "title_terms": row.title_terms,
            "body_terms": row.body_terms,
            "fts_kind": f"{row.entity} {row.kind}" if row.entity == DOCUMENT else row.entity,
            "indexed_at": _stamp(now),
        }
        for row in rows
    ]
    columns = "id, entity, entity_id, kind, sku, title, version, superseded, title_terms"
    values = ":id, :entity, :entity_id, :kind, :sku, :title, :version, :superseded, :title_terms"
    updates = (
        "entity = excluded.entity, entity_id = excluded.entity_id, kind = excluded.kind, "
        "sku = excluded.sku, title = excluded.title, version = excluded.version, "
        "superseded = excluded.superseded, title_terms = excluded.title_terms, "
        "indexed_at = excluded.indexed_at"
    )
    if is_sqlite(session):
        session.execute(
            text(
                f"INSERT INTO search_entries ({columns}, indexed_at) "
                f"VALUES ({values}, :indexed_at) ON CONFLICT (id) DO UPDATE SET {updates}"
            ),
            params,
        )
        session.execute(
            text("DELETE FROM search_fts WHERE rowid = :id"), [{"id": p["id"]} for p in params]
        )
        session.execute(
            text(
                "INSERT INTO search_fts (rowid, title_terms, body_terms, kind) "
                "VALUES (:id, :title_terms, :body_terms, :fts_kind)"
            ),
            params,
        )
    else:
        # One statement whatever the number of rows: each column as one array parameter
        # (executemany cost the sync ~30 µs of client CPU per indexed document).
        unique = list({p["id"]: p for p in params}.values())  # one row per entry
        arrays = {name: BinaryArray([p[name] for p in unique]) for name in _PG_ARRAY_TYPES}
        unnest = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _PG_ARRAY_TYPES.items())
        session.execute(
            text(
                f"INSERT INTO search_entries ({columns}, indexed_at, tsv) "
                f"SELECT {columns}, :indexed_at, "
                "setweight(to_tsvector('simple', title_terms), 'A') || "
                "setweight(to_tsvector('simple', body_terms), 'D') "
                f"FROM unnest({unnest}) AS u({', '.join(_PG_ARRAY_TYPES)}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}, tsv = excluded.tsv"
            ),
            {**arrays, "indexed_at": unique[0]["indexed_at"]},
        )


def _stamp(now: dt.datetime) -> dt.datetime:
    """``indexed_at`` as stored: naive UTC."""
    return now.astimezone(dt.UTC).replace(tzinfo=None)


def set_superseded(
    session: Session, ids: Sequence[int], superseded: bool, now: dt.datetime
) -> set[int]:
    """Set the ``superseded`` flag of existing rows in place and return the ids of those
    found. Nothing else of a row depends on the flag (the terms, SQLite's FTS row and
    PostgreSQL's ``tsv`` are those of the text; queries halve a superseded row's relevance
    from the flag), so this leaves a row as :func:`upsert` of the same entry with the flag
    changed would, without analysing or converting its text again."""
    if not ids:
        return set()
    where, param = ids_param(session, "ids")
    statement = text(
        "UPDATE search_entries SET superseded = :superseded, indexed_at = :indexed_at "
        f"WHERE id {where} RETURNING id"
    ).bindparams(param)
    found = session.scalars(
        statement, {"ids": list(ids), "superseded": superseded, "indexed_at": _stamp(now)}
    )
    return {int(i) for i in found}


_PG_ARRAY_TYPES = {
    "id": "bigint",
    "entity": "text",
    "entity_id": "int",
    "kind": "text",
    "sku": "text",
    "title": "text",
    "version": "int",
    "superseded": "boolean",
    "title_terms": "text",
    "body_terms": "text",
}


def delete(session: Session, ids: Sequence[int]) -> None:
    """Remove index rows (their document or product no longer exists)."""
    if not ids:
        return
    params = [{"id": i} for i in ids]
    if is_sqlite(session):
        session.execute(text("DELETE FROM search_fts WHERE rowid = :id"), params)
    session.execute(text("DELETE FROM search_entries WHERE id = :id"), params)


def delete_orphans(session: Session) -> int:
    """Remove the rows whose document or product is gone; returns how many."""
    orphans = (
        "SELECT e.id FROM search_entries e WHERE "
        "(e.entity = 'document' AND NOT EXISTS "
        "(SELECT 1 FROM product_documents d WHERE d.id = e.entity_id)) OR "
        "(e.entity = 'product' AND NOT EXISTS (SELECT 1 FROM products p WHERE p.id = e.entity_id))"
    )
    ids = [int(i) for i in session.scalars(text(orphans))]
    delete(session, ids)
    return len(ids)


def clear(session: Session) -> None:
    """Empty the index and its vocabulary (tests; a reindex does not need it)."""
    if is_sqlite(session):
        session.execute(text("DELETE FROM search_fts"))
    session.execute(text("DELETE FROM search_entries"))
    session.execute(text("DELETE FROM search_terms"))
    bump_generation(session)


def add_words(session: Session, pairs: Iterable[tuple[str, str]]) -> None:
    """Add (folded word, stem) pairs to the vocabulary; known words are left alone."""
    params = [
        {"word": word, "stem": stem}
        for word, stem in sorted(set(pairs))
        if len(word) <= MAX_WORD_LENGTH and len(stem) <= MAX_WORD_LENGTH
    ]
    if not params:
        return
    if is_sqlite(session):
        session.execute(
            text(
                "INSERT INTO search_terms (word, stem) VALUES (:word, :stem) "
                "ON CONFLICT (word) DO NOTHING"
            ),
            params,
        )
        return
    # one statement (not one execution per pair), the pairs inserted in their sorted order
    session.execute(
        text(
            "INSERT INTO search_terms (word, stem) SELECT word, stem FROM "
            "unnest(CAST(:words AS text[]), CAST(:stems AS text[])) AS u(word, stem) "
            "ON CONFLICT (word) DO NOTHING"
        ),
        {
            "words": BinaryArray([p["word"] for p in params]),
            "stems": BinaryArray([p["stem"] for p in params]),
        },
    )


def bump_generation(session: Session) -> None:
    session.execute(text("UPDATE search_meta SET value = value + 1 WHERE key = 'generation'"))


def generation(session: Session) -> int:
    value = session.scalar(text("SELECT value FROM search_meta WHERE key = 'generation'"))
    return int(value or 0)


def vocabulary(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(text("SELECT word, stem FROM search_terms"))
    return [(str(word), str(stem)) for word, stem in rows]


def entry_count(session: Session) -> int:
    return int(session.scalar(text("SELECT count(*) FROM search_entries")) or 0)


# --- matching -------------------------------------------------------------------------------


def match(session: Session, spec: MatchSpec, limit: int) -> list[MatchRow]:
    """The best ``limit`` entries for ``spec``, best first.

    Ranking every match of a very common word ("garantia" is in half the documents) would
    cost milliseconds per thousand rows, so only the newest ``CANDIDATES`` matches (highest
    ids: the latest versions) are ranked; below that many matches, all of them are. The best
    ``POOL`` of those by relevance (superseded versions halved) then get the bonuses."""
    if not spec.groups:
        return []
    if is_sqlite(session):
        return _sqlite_match(session, spec, limit)
    return _postgres_match(session, spec, limit)


def _row(r: Any, score: float) -> MatchRow:
    return MatchRow(
        int(r.id),
        str(r.entity),
        int(r.entity_id),
        str(r.kind),
        r.sku,
        str(r.title),
        int(r.version),
        bool(r.superseded),
        score,
    )


def _best(rows: list[MatchRow], limit: int) -> list[MatchRow]:
    rows.sort(key=lambda r: (-r.score, r.entry_id))
    return rows[:limit]


def _fts_term(term: str) -> str:
    return f'"{term}"'  # terms are [a-z0-9]+: quoting keeps AND/OR/NOT/NEAR literal


def _sqlite_match(session: Session, spec: MatchSpec, limit: int) -> list[MatchRow]:
    joiner = " AND " if spec.require_all else " OR "
    groups = [
        "(" + " OR ".join(_fts_term(t) for t in group) + ")"
        if len(group) > 1
        else _fts_term(group[0])
        for group in spec.groups
    ]
    expression = joiner.join(groups)
    if spec.kind:
        expression = f"({expression}) AND kind : {_fts_term(spec.kind)}"
    floor = session.scalar(
        text(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH :match "
            "ORDER BY rowid DESC LIMIT 1 OFFSET :skip"
        ),
        {"match": expression, "skip": CANDIDATES - 1},
    )
    rows = session.execute(
        text(
            "SELECT e.id, e.entity, e.entity_id, e.kind, e.sku, e.title, e.version, "
            "e.superseded, f.title_terms, f.body_terms, "
            f"h.rel * CASE WHEN e.superseded THEN {SUPERSEDED_FACTOR} ELSE 1.0 END AS rel "
            "FROM (SELECT rowid AS id, -rank AS rel FROM search_fts "
            "WHERE search_fts MATCH :match AND rowid >= :floor "
            "ORDER BY rank LIMIT :pool) AS h "
            "JOIN search_entries AS e ON e.id = h.id "
            "JOIN search_fts AS f ON f.rowid = h.id"
        ),
        {"match": expression, "floor": floor or 0, "pool": max(POOL, limit)},
    )
    scored = [_row(r, float(r.rel) * bonus(spec, r.title_terms, r.body_terms)) for r in rows]
    return _best(scored, limit)


def bonus(spec: MatchSpec, title_terms: str, body_terms: str) -> float:
    """The ranking bonuses of one entry, from its indexed (stemmed) title and body."""
    exact = spec.exact
    title = title_terms.split()
    everything = set(title) | set(body_terms.split())
    factor = 1.0
    if (spec.has_alternatives or not spec.require_all) and everything.issuperset(exact):
        factor *= EXACT_BONUS
    if len(exact) > 1:
        phrase = " " + " ".join(exact) + " "
        if phrase in f" {title_terms} " or phrase in f" {body_terms} ":
            factor *= PHRASE_BONUS
    if set(title).issuperset(exact):
        factor *= TITLE_BONUS
    return factor


def _postgres_match(session: Session, spec: MatchSpec, limit: int) -> list[MatchRow]:
    joiner = " & " if spec.require_all else " | "
    groups = [
        "(" + " | ".join(group) + ")" if len(group) > 1 else group[0] for group in spec.groups
    ]
    params: dict[str, Any] = {
        "match": joiner.join(groups),
        "limit": limit,
        "pool": max(POOL, limit),
        "candidates": CANDIDATES,
    }
    factors = []
    exact = spec.exact
    if spec.has_alternatives or not spec.require_all:
        params["exact"] = " & ".join(exact)
        factors.append(_postgres_bonus("exact", EXACT_BONUS))
    if len(exact) > 1:
        params["phrase"] = " <-> ".join(exact)
        factors.append(_postgres_bonus("phrase", PHRASE_BONUS))
    params["title"] = " & ".join(f"{t}:A" for t in exact)
    factors.append(_postgres_bonus("title", TITLE_BONUS))
    where = "e.tsv @@ to_tsquery('simple', :match)"
    if spec.kind in (DOCUMENT, PRODUCT):
        where += " AND e.entity = :kind"
        params["kind"] = spec.kind
    elif spec.kind:
        where += " AND e.entity = 'document' AND e.kind = :kind"
        params["kind"] = spec.kind
    sql = (
        # ids only: the top-N sort stays small whether the planner walks the primary key
        # backwards (common words) or the GIN index (rare ones)
        "WITH candidates AS MATERIALIZED ("
        f"SELECT e.id FROM search_entries AS e WHERE {where} "
        "ORDER BY e.id DESC LIMIT :candidates), "
        "pool AS MATERIALIZED (SELECT e.id, e.tsv, "
        "ts_rank(e.tsv, to_tsquery('simple', :match)) "
        f"* CASE WHEN e.superseded THEN {SUPERSEDED_FACTOR} ELSE 1.0 END AS rel "
        "FROM candidates AS c JOIN search_entries AS e ON e.id = c.id "
        "ORDER BY rel DESC LIMIT :pool) "
        "SELECT e.id, e.entity, e.entity_id, e.kind, e.sku, e.title, e.version, e.superseded, "
        f"p.rel * {' * '.join(factors)} AS score "
        "FROM pool AS p JOIN search_entries AS e ON e.id = p.id"
    )
    rows = session.execute(text(sql), params).all()
    return _best([_row(r, float(r.score)) for r in rows], limit)


def _postgres_bonus(param: str, factor: float) -> str:
    return f"CASE WHEN p.tsv @@ to_tsquery('simple', :{param}) THEN {factor} ELSE 1.0 END"


# --- the indexed sources --------------------------------------------------------------------


def documents_by_id(session: Session, ids: Iterable[int]) -> dict[int, ProductDocument]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(ProductDocument).where(ProductDocument.id.in_(wanted))
    # fresh values even if the session holds these rows from before a bulk UPDATE
    rows = session.scalars(query.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


def products_by_id(session: Session, ids: Iterable[int]) -> dict[int, Product]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(Product).where(Product.id.in_(wanted))
    rows = session.scalars(query.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


def document_ids(session: Session) -> list[int]:
    return list(session.scalars(select(ProductDocument.id).order_by(ProductDocument.id)))


def product_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Product.id).order_by(Product.id)))


def document_versions(session: Session, source: str, external_id: str) -> list[ProductDocument]:
    """Every version of one document, newest first."""
    query = (
        select(ProductDocument)
        .where(ProductDocument.source == source, ProductDocument.external_id == external_id)
        .order_by(ProductDocument.version.desc())
    )
    return list(session.scalars(query))
