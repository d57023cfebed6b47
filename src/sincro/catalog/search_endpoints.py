"""HTTP API for searching product documents and products (customer service)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sincro.catalog import search as engine
from sincro.deps import CurrentKey, StateDep

router = APIRouter(prefix="/v1", tags=["search"])

Kind = Literal["document", "product", "datasheet", "leaflet", "manual"]


class SearchHitOut(BaseModel):
    type: Literal["document", "product"]
    id: int
    sku: str | None
    title: str
    kind: str = Field(description="datasheet, leaflet or manual for documents; product")
    version: int | None = Field(description="Document version (null for products)")
    superseded: bool = Field(
        description="A superseded document version (or an inactive product); ranked lower"
    )
    score: float = Field(description="Relevance; only comparable within one response")
    title_html: str = Field(description="The title, HTML-escaped, matched words in <mark>")
    snippet_html: str = Field(
        description="About 30 words around the matches, HTML-escaped, matched words in <mark>"
    )
    effective_date: dt.date | None = None
    language: str | None = None


class QueryTermOut(BaseModel):
    term: str = Field(description="A typed word, folded (no accents, lower case)")
    stem: str
    corrections: list[str] = Field(description="Indexed words it was also matched as (typos)")


class SearchOut(BaseModel):
    query: str
    kind: str | None
    terms: list[QueryTermOut]
    all_terms: bool = Field(
        description="False when no result had every term and results with any term are shown"
    )
    count: int
    results: list[SearchHitOut]
    took_ms: float
    cached: bool


@router.get("/search", response_model=SearchOut)
def search(
    state: StateDep,
    _key: CurrentKey,
    q: Annotated[str, Query(min_length=1, max_length=engine.MAX_QUERY_LENGTH)],
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=engine.MAX_LIMIT)] = 10,
) -> SearchOut:
    """Search datasheets, leaflets, manuals and products: accents and letter case are ignored,
    Portuguese word forms match each other (carregadores ~ carregador), small typos are
    corrected (carregdor, samsng). Title matches rank above body matches, current versions
    above superseded ones, the exact words and phrase above partial matches."""
    found = engine.engine_for(state.db).search(q, kind=kind, limit=limit)
    return SearchOut(
        query=found.query,
        kind=found.kind,
        terms=[
            QueryTermOut(term=t.word, stem=t.stem, corrections=list(t.corrections))
            for t in found.terms
        ],
        all_terms=found.all_terms,
        count=len(found.hits),
        results=[
            SearchHitOut(
                type=hit.type,
                id=hit.id,
                sku=hit.sku,
                title=hit.title,
                kind=hit.kind,
                version=hit.version,
                superseded=hit.superseded,
                score=hit.score,
                title_html=hit.title_html,
                snippet_html=hit.snippet_html,
                effective_date=hit.effective_date,
                language=hit.language,
            )
            for hit in found.hits
        ],
        took_ms=found.took_ms,
        cached=found.cached,
    )
