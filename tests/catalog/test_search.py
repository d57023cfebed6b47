"""Search behaviour on SQLite and PostgreSQL: accents, stems, typos, ranking, snippets,
filters, and the index following document changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update

from sincro.catalog import search
from sincro.catalog.models import ProductDocument
from sincro.db import Database
from sincro.errors import InvalidInput
from tests.catalog.support import make_document, seed_catalog


@pytest.fixture
def indexed(db: Database) -> Iterator[dict[str, int]]:
    search.clear_index(db)
    with db.write() as session:
        ids = seed_catalog(session)
    yield ids
    search.clear_index(db)


def ids_of(found: search.SearchResults) -> list[tuple[str, int]]:
    return [(hit.type, hit.id) for hit in found.hits]


def test_accents_and_case_do_not_matter(db: Database, indexed: dict[str, int]) -> None:
    for q in ("configuracao", "CONFIGURAÇÃO", "Configuração inicial", "fibra optica"):
        found = search.search(db, q)
        assert ids_of(found)[:1] == [("document", indexed["router_manual"])], q
    hit = search.search(db, "configuracao").hits[0]
    assert "<mark>Configuração</mark>" in hit.snippet_html


def test_portuguese_word_forms_match(db: Database, indexed: dict[str, int]) -> None:
    # "carregadores" only in the leaflet, "carregador" in the others: one stem for all
    found = search.search(db, "carregadores")
    assert {
        ("document", indexed["charger_sheet"]),
        ("document", indexed["galaxy_leaflet"]),
        ("product", indexed["charger"]),
    } <= set(ids_of(found))
    assert search.search(db, "instalar").hits[0].id == indexed["router_manual"]  # instalação


def test_typos_are_corrected(db: Database, indexed: dict[str, int]) -> None:
    found = search.search(db, "carregdor")
    assert ("document", indexed["charger_sheet"]) in ids_of(found)
    assert found.corrections == {"carregdor": ("carregador",)}
    assert "<mark>carregador</mark>" in found.hits[0].title_html.lower()
    samsung = search.search(db, "samsng")
    assert ids_of(samsung)[0] == ("product", indexed["galaxy"])
    assert search.search(db, "roteadro wifi").hits  # transposed letters
    assert search.search(db, "xkcdqwerty").hits == ()


def test_short_words_and_numbers_are_not_fuzzed(db: Database, indexed: dict[str, int]) -> None:
    assert search.search(db, "a16").hits == ()  # A15 exists, but model numbers are exact
    assert [t.corrections for t in search.search(db, "25w").terms] == [()]


def test_title_matches_rank_above_body_matches(db: Database, indexed: dict[str, int]) -> None:
    with db.write() as session:
        body_only = make_document(
            session,
            external_id="FAQ-ROT",
            title="Perguntas frequentes sobre internet",
            body="O roteador deve ficar no centro da casa, longe de paredes grossas.",
        )
        search.index_documents(session, [body_only.id])
    found = ids_of(search.search(db, "roteador", kind="document"))
    assert found.index(("document", indexed["router_manual"])) < found.index(
        ("document", body_only.id)
    )


def test_current_version_ranks_above_superseded(db: Database, indexed: dict[str, int]) -> None:
    found = search.search(db, "ativar chip")
    hits = {hit.id: hit for hit in found.hits}
    assert [h.id for h in found.hits][:2] == [indexed["sim_new"], indexed["sim_old"]]
    assert hits[indexed["sim_old"]].superseded and not hits[indexed["sim_new"]].superseded
    assert hits[indexed["sim_new"]].score > hits[indexed["sim_old"]].score
    assert (hits[indexed["sim_new"]].version, hits[indexed["sim_old"]].version) == (2, 1)


def test_phrase_ranks_above_scattered_words(db: Database, indexed: dict[str, int]) -> None:
    with db.write() as session:
        scattered = make_document(
            session,
            external_id="SCAT",
            title="Guia de acessórios",
            body="Modo turbo do jogo. O carregador fica à parte, na caixa.",
        )
        together = make_document(
            session,
            external_id="TOGE",
            title="Guia de energia",
            body="Use um carregador turbo original; outros modelos aquecem.",
        )
        search.index_documents(session, [scattered.id, together.id])
    found = ids_of(search.search(db, "carregador turbo", kind="document"))
    assert found.index(("document", together.id)) < found.index(("document", scattered.id))


def test_snippets_are_escaped_with_marks(db: Database, indexed: dict[str, int]) -> None:
    with db.write() as session:
        doc = make_document(
            session,
            external_id="XSS",
            title="Bateria <script>alert('x')</script>",
            body='Troca da <b>bateria</b> & "garantia" em 5 dias. ' + "Texto longo. " * 40,
        )
        search.index_documents(session, [doc.id])
    hit = next(h for h in search.search(db, "bateria").hits if h.id == doc.id)
    assert (
        hit.title_html == "<mark>Bateria</mark> &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    )
    assert hit.snippet_html.startswith(
        "Troca da &lt;b&gt;<mark>bateria</mark>&lt;/b&gt; &amp; &quot;garantia&quot;"
    )
    assert hit.snippet_html.endswith(" …")
    assert "<script" not in hit.snippet_html + hit.title_html


def test_results_identify_documents_and_products(db: Database, indexed: dict[str, int]) -> None:
    found = search.search(db, "galaxy a15")
    types = {(h.type, h.kind) for h in found.hits}
    assert ("product", "product") in types and ("document", "leaflet") in types
    product = next(h for h in found.hits if h.type == "product")
    assert (product.id, product.sku, product.title) == (
        indexed["galaxy"],
        "CEL-A15",
        "Smartphone Samsung Galaxy A15 128GB",
    )
    assert product.version is None and product.score > 0


def test_filter_by_kind(db: Database, indexed: dict[str, int]) -> None:
    assert {h.type for h in search.search(db, "carregador", kind="product").hits} == {"product"}
    manuals = search.search(db, "roteador", kind="manual").hits
    assert [h.id for h in manuals] == [indexed["router_manual"]]
    assert {h.type for h in search.search(db, "carregador", kind="document").hits} == {"document"}


def test_any_term_when_no_result_has_all(db: Database, indexed: dict[str, int]) -> None:
    found = search.search(db, "carregador hoverboard")
    assert found.hits and not found.all_terms
    assert search.search(db, "carregador turbo").all_terms


def test_stop_words_alone_find_nothing(db: Database, indexed: dict[str, int]) -> None:
    assert search.search(db, "de para com").hits == ()


def test_index_follows_document_changes(db: Database, indexed: dict[str, int]) -> None:
    doc_id = indexed["charger_sheet"]
    assert search.search(db, "sobretensao").hits  # cached from now on
    with db.write() as session:
        session.execute(
            update(ProductDocument)
            .where(ProductDocument.id == doc_id)
            .values(body="Carregador com proteção térmica e cabo destacável.")
        )
        search.index_documents(session, [doc_id])
    assert search.search(db, "sobretensao").hits == ()
    assert [h.id for h in search.search(db, "termica").hits] == [doc_id]
    assert search.search(db, "destacavel").hits[0].id == doc_id  # new word, new vocabulary
    assert search.search(db, "destacavl").hits[0].id == doc_id  # and typos of it
    with db.write() as session:
        session.execute(delete(ProductDocument).where(ProductDocument.id == doc_id))
        search.index_documents(session, [doc_id])
    assert search.search(db, "termica").hits == ()


def test_rolled_back_changes_leave_the_index_alone(db: Database, indexed: dict[str, int]) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        doc = make_document(session, external_id="RB", title="Hoverboard elétrico", body="x")
        search.index_documents(session, [doc.id])
        raise RuntimeError("rollback")
    assert search.search(db, "hoverboard").hits == ()


def test_products_follow_changes(db: Database, indexed: dict[str, int]) -> None:
    from sincro.catalog.models import Product

    with db.write() as session:
        session.execute(
            update(Product).where(Product.id == indexed["router"]).values(name="Roteador Mesh")
        )
        search.index_products(session, [indexed["router"]])
    assert ("product", indexed["router"]) in ids_of(search.search(db, "mesh"))


def test_reindex_all_rebuilds_everything(db: Database, indexed: dict[str, int]) -> None:
    search.clear_index(db)
    assert search.search(db, "carregador").hits == ()
    calls: list[tuple[int, int]] = []
    stats = search.reindex_all(db, lambda done, total: calls.append((done, total)), batch=5)
    assert stats.products == 3 and stats.documents == 17 and stats.removed == 0
    assert calls[0] == (0, 20) and calls[-1] == (20, 20)
    assert search.search(db, "carregdor").hits


def test_query_validation(db: Database, indexed: dict[str, int]) -> None:
    for q in ("", "   ", "x" * 201):
        with pytest.raises(InvalidInput) as error:
            search.search(db, q)
        assert error.value.field == "q"
    with pytest.raises(InvalidInput) as error:
        search.search(db, "chip", kind="video")
    assert error.value.field == "kind"
    assert search.search(db, "x" * 200).hits == ()


def test_repeated_queries_come_from_the_cache(db: Database, indexed: dict[str, int]) -> None:
    first = search.search(db, "Roteador")
    again = search.search(db, "roteador")
    assert not first.cached and again.cached and again.hits == first.hits
    assert not search.search(db, "roteador", kind="manual").cached
