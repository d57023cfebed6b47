"""A version superseded by a later page keeps its index row and changes only its flag: the
index and the search results (hits, order, scores, snippets) are those of a full reindex,
whatever order the versions arrive in, on both databases; the flipped version's text is not
analysed again, and one missing from the index is indexed in full."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from sincro.catalog import search, search_repository as repo
from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.catalog.models import ProductDocument
from sincro.db import Database

TEXTS = {  # (external id, version) -> (title, body); D3's versions share their text
    ("D1", 1): ("Manual do roteador", "Garantia de 12 meses.\nConfiguração do roteador Wi-Fi."),
    ("D1", 2): ("Manual do roteador v2", "Garantia de 24 meses.\nConfiguração rápida."),
    ("D1", 3): ("Manual do roteador v3", "Garantia de 36 meses para o roteador."),
    ("D2", 1): ("Folheto do carregador", "Carregador rápido com garantia."),
    ("D2", 2): ("Folheto do carregador turbo", "Carregador turbo, garantia de 12 meses."),
    ("D3", 1): ("Ficha do cabo USB", "Cabo USB-C reforçado, garantia de 6 meses."),
    ("D3", 2): ("Ficha do cabo USB", "Cabo USB-C reforçado, garantia de 6 meses."),
}
ORDERS = {  # pages of versions, by external id and version
    "in order": [[("D1", 1), ("D2", 1), ("D3", 1)], [("D1", 2), ("D2", 2)], [("D3", 2), ("D1", 3)]],
    "out of order": [
        [("D1", 3), ("D2", 2)],
        [("D1", 1), ("D3", 2)],
        [("D2", 1), ("D3", 1)],
        [("D1", 2)],
    ],
    "mixed": [[("D1", 2), ("D3", 1)], [("D1", 1), ("D2", 1)], [("D1", 3), ("D3", 2)], [("D2", 2)]],
}
QUERIES = ["garantia", "roteador", "manual roteador", "carregador rapido", "cabo usb", "roteadr"]


def version(key: tuple[str, int]) -> DocumentIn:
    title, body = TEXTS[key]
    kind = "manual" if key[0] == "D1" else "leaflet" if key[0] == "D2" else "datasheet"
    return DocumentIn(key[0], title, body, version=key[1], sku=f"SKU-{key[0]}", kind=kind)


def index_state(db: Database) -> dict[str, list[Any]]:
    """Every stored part of the index but ``indexed_at``: its rows, SQLite's FTS rows or
    PostgreSQL's tsvectors, the vocabulary."""
    entries = "id, entity, entity_id, kind, sku, title, version, superseded, title_terms"
    text_rows = (
        "SELECT rowid, title_terms, body_terms, kind FROM search_fts ORDER BY rowid"
        if db.is_sqlite
        else "SELECT id, tsv::text FROM search_entries ORDER BY id"
    )
    with db.read() as session:
        return {
            "entries": list(
                session.execute(text(f"SELECT {entries} FROM search_entries ORDER BY id"))
            ),
            "text": list(session.execute(text(text_rows))),
            "words": list(
                session.execute(text("SELECT word, stem FROM search_terms ORDER BY word"))
            ),
        }


def results(db: Database) -> dict[str, Any]:
    engine = search.SearchEngine(db, use_cache=False)
    found = {}
    for q in QUERIES:
        answer = engine.search(q, limit=50)
        found[q] = (answer.terms, answer.all_terms, answer.hits)
    return found


def flags(db: Database) -> dict[tuple[str, int], bool]:
    with db.read() as session:
        return {
            (d.external_id, d.version): d.superseded
            for d in session.scalars(select(ProductDocument))
        }


@pytest.mark.parametrize("order", list(ORDERS))
def test_synced_index_and_results_equal_a_full_reindex(own_db: Database, order: str) -> None:
    db = own_db
    for page in ORDERS[order]:
        with db.write() as session:
            apply_documents(session, "docs", [version(key) for key in page])
    assert flags(db) == {key: key[1] < (3 if key[0] == "D1" else 2) for key in TEXTS}
    synced, synced_results = index_state(db), results(db)
    hits = {h.id: h for h in synced_results["cabo usb"][2]}
    old, new = sorted(hits.values(), key=lambda h: h.version)
    assert old.superseded and not new.superseded
    assert old.score == pytest.approx(new.score / 2, rel=1e-5)  # same text, half the weight
    assert any(h.superseded for _, _, found in synced_results.values() for h in found)

    search.clear_index(db)
    search.reindex_all(db)
    assert index_state(db) == synced
    assert results(db) == synced_results


def test_a_flipped_version_is_not_analysed_again(
    own_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = own_db
    with db.write() as session:
        apply_documents(session, "docs", [version(("D1", 1)), version(("D2", 1))])
    built: list[int] = []
    document_row = search.document_row

    def counting(doc: Any) -> Any:
        built.append(doc.id)
        return document_row(doc)

    monkeypatch.setattr(search, "document_row", counting)
    with db.write() as session:
        apply_documents(session, "docs", [version(("D1", 2))])
    ids = _ids(db)
    assert built == [ids[("D1", 2)]]  # D1 v1 only changed its flag
    assert flags(db)[("D1", 1)]
    with db.read() as session:
        superseded = session.scalar(
            text("SELECT superseded FROM search_entries WHERE id = :id"),
            {"id": repo.entry_id(repo.DOCUMENT, ids[("D1", 1)])},
        )
    assert superseded


def test_a_flipped_version_missing_from_the_index_is_indexed_in_full(own_db: Database) -> None:
    db = own_db
    with db.write() as session:
        apply_documents(session, "docs", [version(("D1", 1)), version(("D2", 1))])
    ids = _ids(db)
    with db.write() as session:
        repo.delete(session, [repo.entry_id(repo.DOCUMENT, ids[("D1", 1)])])
    with db.write() as session:
        apply_documents(session, "docs", [version(("D1", 2))])
    synced = index_state(db)
    assert len(synced["entries"]) == 3
    search.clear_index(db)
    search.reindex_all(db)
    assert index_state(db) == synced


def _ids(db: Database) -> dict[tuple[str, int], int]:
    with db.read() as session:
        return {(d.external_id, d.version): d.id for d in session.scalars(select(ProductDocument))}
