"""``informacao_produto`` and ``suporte_tecnico``: the passage of a datasheet, leaflet or
manual that answers, found by catalog search (``catalog.search``: stems, typos, current
versions first), with the document's link. No document answers: a person does."""

from __future__ import annotations

import html
import re

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.catalog import search, service as catalog
from sincro.catalog.search import SearchHit
from sincro.db import database_for
from sincro.text_pt import fold

# what people type around a question that no document holds
FILLER = frozenset(
    [
        "oi",
        "ola",
        "bom",
        "boa",
        "dia",
        "tarde",
        "noite",
        "qual",
        "quais",
        "quanto",
        "quantos",
        "quanta",
        "quantas",
        "como",
        "onde",
        "tem",
        "ter",
        "voce",
        "voces",
        "vc",
        "vcs",
        "sabe",
        "saber",
        "sabem",
        "me",
        "fala",
        "falar",
        "diz",
        "dizer",
        "informacao",
        "informacoes",
        "info",
        "duvida",
        "gostaria",
        "queria",
        "quero",
        "qro",
        "pfv",
        "pf",
        "favor",
        "por",
        "ai",
        "aii",
        "obrigado",
        "obg",
        "vlw",
        "esse",
        "essa",
        "este",
        "esta",
        "isso",
        "ele",
        "ela",
        "do",
        "da",
        "de",
        "o",
        "a",
        "os",
        "as",
        "e",
        "eh",
        "que",
        "q",
        "pq",
        "porque",
        "sobre",
        "alguem",
        "ajuda",
        "ajudar",
        "preciso",
        "celular",
        "aparelho",
        "produto",
        "faco",
        "fazer",
        "pra",
        "para",
        "consigo",
        "posso",
        "meu",
        "minha",
    ]
)
TAGS = re.compile(r"<[^>]+>")
DOCUMENT_URL = "/v1/assistant/documents/{id}"


def _query(turn: Turn, product_name: str | None = None) -> str:
    words = [w for w in re.findall(r"[\w.,-]+", turn.text) if fold(w) not in FILLER]
    if product_name:
        words = [*product_name.split()[1:4], *words]  # "Samsung Galaxy A05": brand, line, model
    return " ".join(words)[: search.MAX_QUERY_LENGTH]


def passage(hit: SearchHit) -> str:
    """The snippet as plain text (search marks matches with <mark> and escapes HTML)."""
    return html.unescape(TAGS.sub("", hit.snippet_html)).strip()


def _documents(found: search.SearchResults, sku: str | None) -> list[SearchHit]:
    """The documents found holding every word of the question; when only some words matched,
    only the named product's own documents (a document matching "internet" of "minha
    internet ta caindo" does not answer it, the Galaxy A05's datasheet answers "quanto tempo
    de garantia tem o galaxy a05")."""
    documents = [h for h in found.hits if h.type == "document"]
    if found.all_terms:
        return documents
    return [h for h in documents if sku is not None and h.sku == sku]


def _best(hits: list[SearchHit], sku: str | None, kinds: tuple[str, ...]) -> SearchHit:
    documents = [h for h in hits if h.kind in kinds]
    return sorted(documents, key=lambda h: (h.sku != sku if sku else False, h.superseded))[0]


def answer_from_documents(turn: Turn, kinds: tuple[str, ...]) -> Answer:
    """The best document for the question; a product named now is preferred, and the last
    product talked about is added to the question only when the question alone finds none."""
    named = turn.entity("product")
    product = catalog.product_card(turn.session, named.normalized) if named else None
    query = _query(turn)
    if not query.strip():
        turn.ask_for("question", turn.intent)
        return Answer.ask("Qual é a sua dúvida sobre o produto?")
    engine = search.engine_for(database_for(turn.settings))
    sku = product.sku if product else None
    first = engine.search(query, limit=20)
    hits = _documents(first, sku)
    last = turn.flow.get("product")
    nothing = not any(h.type == "document" for h in first.hits)
    if nothing and product is None and isinstance(last, dict):
        context = catalog.product_card(turn.session, str(last.get("sku")))
        if context is not None:
            hits = _documents(engine.search(_query(turn, context.name), limit=20), context.sku)
    if not any(h.kind in kinds for h in hits):
        return Answer.hand_off("cannot_do")
    turn.done_waiting()
    hit = _best(hits, sku, kinds)
    text = passage(hit)
    data = {
        "id": hit.id,
        "title": hit.title,
        "kind": hit.kind,
        "version": hit.version,
        "sku": hit.sku,
        "passage": text,
        "url": DOCUMENT_URL.format(id=hit.id),
    }
    answer = Answer(
        f"Segundo o documento “{hit.title}”: {text}\nDocumento completo: {data['url']}",
        [Action("show_document", data)],
    )
    if hit.sku:
        answer.skus = [hit.sku]
        ref = catalog.product_card(turn.session, hit.sku)
        if ref is not None:
            turn.flow["product"] = {"sku": ref.sku, "name": ref.name}
    return answer


def product_information(turn: Turn) -> Answer:
    return answer_from_documents(turn, ("datasheet", "leaflet", "manual"))


def technical_support(turn: Turn) -> Answer:
    return answer_from_documents(turn, ("manual", "datasheet"))
