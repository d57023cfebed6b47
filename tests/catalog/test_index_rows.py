"""What the documents sync writes to the search index: the terms of a text analysed line by line
(with the lines' cache) equal its terms analysed word by word; the text of a version whose flag
flips without being written again comes from the database; binary array parameters keep
every value as given."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from sqlalchemy import select, text

from sincro.catalog import search
from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.catalog.models import ProductDocument
from sincro.db import BinaryArray, Database
from sincro.text_pt import STOPWORDS, WORD_RE, folded_parts, stem

TEXTS = [
    "",
    "\n\n",
    "Ficha técnica — Roteador Wi-Fi 6 (CEL-A15)",
    "Manual do roteador\n\nde a o\n- Garantia: 12 meses\nCONFIGURAÇÃO_do  carregador\n",
    "Garantia: 12 meses\nGarantia: 12 meses\nø æ Nº 5g\n\n  \nchips e modems",
]


def word_by_word(value: str) -> tuple[str, set[tuple[str, str]]]:
    """The analysis spelled out: every word of the text folded, stop words dropped, stemmed."""
    stems, pairs = [], set()
    for raw in WORD_RE.findall(value):
        for word in folded_parts(raw):
            if word in STOPWORDS:
                continue
            stems.append(stem(word))
            if len(word) >= 3 and not word.isdigit():
                pairs.add((word, stem(word)))
    return " ".join(stems), pairs


@pytest.mark.parametrize("lines_max", [search._LINES_MAX, 2])
def test_terms_line_by_line_equal_word_by_word(
    monkeypatch: pytest.MonkeyPatch, lines_max: int
) -> None:
    monkeypatch.setattr(search, "_LINES_MAX", lines_max)  # 2: the cache emptied over and over
    monkeypatch.setattr(search, "_LINES", {})
    for _ in range(2):  # the second time from the cache
        for value in TEXTS:
            assert search.analyse(value) == word_by_word(value), value
            stems, raws = search._terms(value)
            assert (stems, search._pairs_of(raws)) == word_by_word(value)


def test_index_rows_of_flipped_versions_are_those_of_a_full_reindex(own_db: Database) -> None:
    """Pages that flip versions written earlier (a newer version; an older one arriving late)
    leave the same index rows as reindexing every version from the table."""
    db = own_db
    pages = [
        [DocumentIn("D1", "Manual do roteador", "Garantia de 12 meses", version=1, kind="manual")],
        [DocumentIn("D1", "Manual do roteador v2", "Garantia de 24 meses", version=2)],
        [DocumentIn("D2", "Folheto", "Carregador\nrápido", version=3, kind="leaflet")],
        [
            DocumentIn("D2", "Folheto antigo", "Carregador lento", version=2, kind="leaflet"),
            DocumentIn("D1", "Manual do roteador v3", "Garantia de 36 meses", version=3),
        ],
    ]
    for documents in pages:
        with db.write() as session:
            apply_documents(session, "docs", documents)
    columns = "id, entity, entity_id, kind, sku, title, version, superseded, title_terms"
    query = text(f"SELECT {columns} FROM search_entries WHERE entity = 'document' ORDER BY id")
    with db.read() as session:
        synced = session.execute(query).all()
        flags = {
            (d.external_id, d.version): d.superseded
            for d in session.scalars(select(ProductDocument))
        }
    assert len(synced) == 5
    assert flags == {
        ("D1", 1): True,
        ("D1", 2): True,
        ("D1", 3): False,
        ("D2", 2): True,
        ("D2", 3): False,
    }
    search.clear_index(db)
    search.reindex_all(db)
    with db.read() as session:
        assert session.execute(query).all() == synced
        if db.url.startswith("postgresql"):
            tsv = text(
                "SELECT id, tsv::text FROM search_entries WHERE entity = 'document' ORDER BY id"
            )
            before = session.execute(tsv).all()
    if db.url.startswith("postgresql"):
        with db.write() as session:  # the same pages again: each version written over itself
            for documents in pages:
                apply_documents(session, "docs", documents)
        with db.read() as session:
            assert session.execute(tsv).all() == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_binary_arrays_keep_every_value(db: Database) -> None:
    cases = [
        ([1, None, 2**40], "bigint"),
        (["a", None, 'x"\\y', "", "é — ç\n{,}"], "text"),
        ([dt.datetime(2026, 1, 1, 12, 30), None], "timestamp"),
        ([dt.date(2025, 2, 3), None], "date"),
        ([True, False, None], "boolean"),
        ([decimal.Decimal("1.50"), None], "numeric(12,2)"),
        ([None, None], "text"),
        ([], "text"),
    ]
    with db.read() as session:
        for values, kind in cases:
            got = session.scalar(text(f"SELECT CAST(:v AS {kind}[])"), {"v": BinaryArray(values)})
            assert got == values, kind
