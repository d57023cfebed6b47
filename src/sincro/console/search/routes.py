"""Console pages for customer-service agents ("Busca"): one search box over datasheets,
leaflets, manuals and products, results with highlighted snippets, a filter by type, and each
document in full with the searched words highlighted.

Snippets and titles arrive HTML-escaped with ``<mark>`` around matched words (built by
:mod:`sincro.catalog.search`), so the templates render them as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from sincro.catalog import search as engine, search_repository as repo
from sincro.console.routes import ConsoleUserDep, app_state, not_found, render
from sincro.errors import InvalidInput

router = APIRouter(prefix="/console", include_in_schema=False)

RESULTS = 20
TYPES = (
    ("", "Tudo"),
    ("product", "Produtos"),
    ("datasheet", "Fichas técnicas"),
    ("leaflet", "Folhetos"),
    ("manual", "Manuais"),
)
KIND_LABELS = {
    "product": "Produto",
    "datasheet": "Ficha técnica",
    "leaflet": "Folheto",
    "manual": "Manual",
}


@dataclass(frozen=True, slots=True)
class ResultView:
    type: str
    id: int
    sku: str | None
    kind: str
    kind_label: str
    title: Markup
    snippet: Markup
    version: int | None
    superseded: bool
    effective_date: Any
    score: float


def _view(hit: engine.SearchHit) -> ResultView:
    return ResultView(
        hit.type,
        hit.id,
        hit.sku,
        hit.kind,
        KIND_LABELS.get(hit.kind, hit.kind),
        Markup(hit.title_html),  # escaped by the search engine, <mark> added there
        Markup(hit.snippet_html),
        hit.version,
        hit.superseded,
        hit.effective_date,
        hit.score,
    )


@router.get("/search", name="console_search")
def search_page(request: Request, _user: ConsoleUserDep, q: str = "", kind: str = "") -> Response:
    """The search box and its results."""
    query = q.strip()
    kind = kind if kind in {k for k, _ in TYPES} else ""
    context: dict[str, Any] = {
        "q": query,
        "kind": kind,
        "types": TYPES,
        "results": [],
        "found": None,
        "errors": [],
        "max_length": engine.MAX_QUERY_LENGTH,
    }
    status_code = 200
    if query:
        try:
            found = engine.engine_for(app_state(request).db).search(
                query, kind=kind or None, limit=RESULTS
            )
        except InvalidInput:
            context["errors"] = [
                f"A busca pode ter no máximo {engine.MAX_QUERY_LENGTH} caracteres."
            ]
            status_code = 422
        else:
            context["found"] = found
            context["results"] = [_view(hit) for hit in found.hits]
            context["corrections"] = sorted({word for t in found.terms for word in t.corrections})
    return render(request, "search/index.html", context, status_code=status_code, section="search")


@router.get("/search/documents/{document_id}", name="console_search_document")
def document_page(
    request: Request, document_id: int, _user: ConsoleUserDep, q: str = ""
) -> Response:
    """One document in full, the searched words highlighted, with its other versions."""
    searcher = engine.engine_for(app_state(request).db)
    with app_state(request).db.read() as session:
        doc = repo.documents_by_id(session, [document_id]).get(document_id)
        if doc is None:
            return not_found(
                request, "Documento não encontrado", f"Não existe o documento nº {document_id}."
            )
        versions = repo.document_versions(session, doc.source, doc.external_id)
    terms = searcher.terms(q) if q.strip() else ()
    stems = frozenset(s for t in terms for s in t.alternatives)
    context = {
        "doc": doc,
        "q": q.strip(),
        "kind_label": KIND_LABELS.get(doc.kind, doc.kind),
        "title": Markup(engine.highlight(doc.title, stems)),
        "body": Markup(engine.highlight(doc.body, stems)),
        "versions": versions,
    }
    return render(request, "search/document.html", context, section="search")
