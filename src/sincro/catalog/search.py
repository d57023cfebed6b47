"""Search over product documents and products, for customer service.

Everything linguistic happens in Python, the same way for indexing and for querying, so
SQLite and PostgreSQL index and look up exactly the same terms. Steps 1–3 are the pt-BR word
helpers of :mod:`sincro.text_pt`; this module caches their result per raw word:

1. **Folding**: Unicode NFKD, combining marks dropped, case folded ("Configuração" ->
   "configuracao").
2. **Tokenising**: words are runs of letters and digits; each is folded and split on anything
   that is not ``[a-z0-9]``. A short list of Portuguese stop words is dropped (in the index
   too, so phrases still line up).
3. **Stemming**: Snowball Portuguese, whose rules expect accents: the usual accents of common
   endings are put back on the folded word first ("configuracao" -> "configuração"), the
   stem is folded again ("configur", like "configurar"), and a final plural "s" comes off
   words Snowball leaves alone ("chips" -> "chip"). Stems are cached.

The index (:mod:`sincro.catalog.search_repository`) stores the stemmed title and body and a
vocabulary of folded words with their stems. **Typos**: a typed word whose stem is not in the
vocabulary is compared (optimal string alignment distance, rapidfuzz) with the vocabulary's
words of similar length; up to four close words (distance 1 up to 7 letters, 2 beyond) add
their stems as alternatives ("carregdor" -> "carregador" -> "carreg"). Words with digits and
words under four letters are never corrected.

**Matching**: every typed term (one of its alternatives) must match; when nothing does, any
term may. **Ranking**: the database's relevance (bm25 on SQLite, ts_rank on PostgreSQL; title
hits weigh ten times body hits), times 0.5 for a superseded version; the best 50 then times 2
when every typed term matched as typed, 1.5 for the typed terms as a phrase and 1.5 when the
title holds every typed term. A word found in thousands of documents ("garantia") is ranked
over its newest 1,000 matches only (see :func:`search_repository.match`): that keeps a search
under a few milliseconds at 100,000 documents.

Results carry snippets: the window of about 30 words of the body with the most distinct
matched terms, HTML-escaped, with ``<mark>`` around the matched words.

A small in-process LRU (256 queries, 60 s) answers repeated queries. Each change of the
index bumps a generation in the database: a process's own changes clear its cache at commit,
other processes' changes within a second (the generation is read at most once a second).
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from sincro.catalog import search_repository as repo
from sincro.catalog.models import Product, ProductDocument
from sincro.catalog.search_repository import DOCUMENT, PRODUCT, IndexRow, MatchRow, MatchSpec
from sincro.db import Database, before_commit, on_commit, utcnow
from sincro.errors import InvalidInput
from sincro.text_pt import STOPWORDS, WORD_RE, folded_parts, plain, stem, words

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10
MAX_LIMIT = 50
MAX_ALTERNATIVES = 4
MIN_FUZZY_LENGTH = 4
CACHE_SIZE = 256
CACHE_TTL_SECONDS = 60.0
GENERATION_CHECK_SECONDS = 1.0
VOCABULARY_REFRESH_SECONDS = 60.0
PENDING_WORDS = "sincro.search.pending_words"  # session.info: words to add at commit
SNIPPET_WORDS = 30
REINDEX_BATCH = 500
KINDS = (DOCUMENT, PRODUCT, "datasheet", "leaflet", "manual")

# --- text analysis --------------------------------------------------------------------------


# per raw word: its stems joined by spaces ("" when all are stop words), and its vocabulary
# pairs; two dictionaries so that a text's words are looked up with ``map`` (in C). A word's
# pairs are stored before its stems: a word found in _STEMS has both.
_STEMS: dict[str, str] = {}
_PAIRS: dict[str, frozenset[tuple[str, str]]] = {}
_ANALYSED_MAX = 200_000
_NO_PAIRS: frozenset[tuple[str, str]] = frozenset()


def _analysed(raw: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """The stems (joined by spaces) and (folded word, stem) vocabulary pairs of one raw word."""
    stems = _STEMS.get(raw)
    if stems is not None:
        return stems, _PAIRS[raw]
    parts = [(word, stem(word)) for word in folded_parts(raw) if word not in STOPWORDS]
    pairs = frozenset((w, s) for w, s in parts if len(w) >= 3 and not w.isdigit()) or _NO_PAIRS
    stems = " ".join(s for _, s in parts)
    if len(_STEMS) < _ANALYSED_MAX:
        _PAIRS[raw] = pairs
        _STEMS[raw] = stems
    return stems, pairs


# per line of text: its stems joined by spaces and its distinct raw words. Documents repeat
# whole lines (titles, a template's headings and clauses), so most lines are analysed once;
# the dictionary is emptied when full (a line missing is only analysed again).
_LINES: dict[str, tuple[str, frozenset[str]]] = {}
_LINES_MAX = 20_000


def _terms(text: str) -> tuple[str, set[str]]:
    """The indexed form of ``text`` (its stems, stop words dropped, joined by spaces) and its
    distinct raw words (their vocabulary pairs: :func:`_pairs_of`), line by line: no word
    spans a line break, so the text's terms are its lines' terms joined. This runs for the
    title and the body of every document a sync writes."""
    found = []
    for line in text.split("\n"):
        terms = _LINES.get(line)
        if terms is None:
            if len(_LINES) >= _LINES_MAX:
                _LINES.clear()
            terms = _LINES[line] = _line_terms(line)
        found.append(terms)
    if len(found) == 1:
        return found[0][0], set(found[0][1])
    raws: set[str] = set()
    raws.update(*[r for _, r in found])
    return " ".join([s for s, _ in found if s]), raws


def _line_terms(text: str) -> tuple[str, frozenset[str]]:
    """:func:`_terms` of a text without line breaks: one dictionary lookup per word, the
    lookups and the join in C (the same words come back across 100,000 documents)."""
    raws = WORD_RE.findall(text)
    unique = frozenset(raws)
    new = unique.difference(_STEMS)
    if new:
        for raw in new:
            _analysed(raw)
        if not new.issubset(_STEMS.keys()):  # the cache is full: word by word
            return " ".join([s for raw in raws if (s := _analysed(raw)[0])]), unique
    return " ".join(filter(None, map(_STEMS.__getitem__, raws))), unique


def _pairs_of(raws: Iterable[str]) -> set[tuple[str, str]]:
    """The (word, stem) vocabulary pairs of raw words."""
    pairs: set[tuple[str, str]] = set()
    pairs.update(*[_analysed(raw)[1] for raw in raws])
    return pairs


def analyse(text: str) -> tuple[str, set[tuple[str, str]]]:
    """The indexed form of ``text`` (its stems, stop words dropped, joined by spaces) and its
    (word, stem) pairs for the vocabulary."""
    stems, raws = _terms(text)
    return stems, _pairs_of(raws)


def normalised_query(q: str) -> str:
    """The cache key of a query: its folded words, stop words included, in order."""
    return plain(q)


# --- vocabulary and typo tolerance ----------------------------------------------------------


class Vocabulary:
    """The indexed words (folded) and their stems, bucketed by length for fuzzy lookups."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.stem_of: dict[str, str] = {}
        self.stems: set[str] = set()
        self.by_length: dict[int, list[str]] = {}
        self.add(pairs)

    def __len__(self) -> int:
        return len(self.stem_of)

    def add(self, pairs: Iterable[tuple[str, str]]) -> None:
        for word, stemmed in pairs:
            if word not in self.stem_of:
                self.stem_of[word] = stemmed
                self.stems.add(stemmed)
                self.by_length.setdefault(len(word), []).append(word)

    def close_words(self, word: str) -> list[str]:
        """Vocabulary words within a small edit distance of ``word``, closest first."""
        if len(word) < MIN_FUZZY_LENGTH or not word.isalpha():
            return []
        max_distance = 1 if len(word) <= 7 else 2
        found: list[tuple[int, int, str]] = []
        for length in range(len(word) - max_distance, len(word) + max_distance + 1):
            choices = self.by_length.get(length)
            if not choices:
                continue
            for candidate, distance, _ in process.extract(
                word, choices, scorer=OSA.distance, score_cutoff=max_distance, limit=8
            ):
                found.append((int(distance), 0 if candidate[0] == word[0] else 1, candidate))
        return [candidate for *_, candidate in sorted(found)]


@dataclass(frozen=True, slots=True)
class QueryTerm:
    word: str  # folded, as typed
    stem: str
    alternatives: tuple[str, ...]  # stems: the typed one first, then corrections
    corrections: tuple[str, ...]  # the vocabulary words the corrections came from


def parse(q: str, vocabulary: Vocabulary | None) -> tuple[QueryTerm, ...]:
    """The query's terms (stop words and repeated stems dropped), with typo corrections for
    the words the index does not know."""
    terms: list[QueryTerm] = []
    seen: set[str] = set()
    for _, _, word in words(q):
        if word in STOPWORDS:
            continue
        stemmed = stem(word)
        if stemmed in seen:
            continue
        seen.add(stemmed)
        alternatives = [stemmed]
        corrections: list[str] = []
        if vocabulary is not None and stemmed not in vocabulary.stems:
            for candidate in vocabulary.close_words(word):
                candidate_stem = vocabulary.stem_of[candidate]
                if candidate_stem not in alternatives:
                    alternatives.append(candidate_stem)
                    corrections.append(candidate)
                if len(alternatives) > MAX_ALTERNATIVES:
                    break
        terms.append(QueryTerm(word, stemmed, tuple(alternatives), tuple(corrections)))
        if len(terms) == MAX_TERMS:
            break
    return tuple(terms)


# --- highlighting ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    stem: str | None  # the matched stem, or None


def _scan(text: str, stems: frozenset[str]) -> list[_Word]:
    found: list[_Word] = []
    for start, end, word in words(text):
        matched = None if word in STOPWORDS else stem(word)
        if matched not in stems:
            matched = None
        if found and found[-1].start == start:  # one span split into several folded words
            if matched and found[-1].stem is None:
                found[-1] = _Word(start, end, matched)
            continue
        found.append(_Word(start, end, matched))
    return found


def _render(
    text: str, scanned: Sequence[_Word], first: int, last: int, collapse: bool = True
) -> str:
    parts = []
    position = scanned[first].start
    for word in scanned[first : last + 1]:
        parts.append(html.escape(text[position : word.start]))
        piece = html.escape(text[word.start : word.end])
        parts.append(f"<mark>{piece}</mark>" if word.stem else piece)
        position = word.end
    rendered = "".join(parts)
    return " ".join(rendered.split()) if collapse else rendered


def highlight(text: str, stems: frozenset[str]) -> str:
    """All of ``text``, HTML-escaped, with ``<mark>`` around the words of ``stems``."""
    scanned = _scan(text, stems)
    if not scanned:
        return html.escape(text)
    head = html.escape(text[: scanned[0].start])
    tail = html.escape(text[scanned[-1].end :])
    return head + _render(text, scanned, 0, len(scanned) - 1, collapse=False) + tail


def snippet(text: str, stems: frozenset[str], size: int = SNIPPET_WORDS) -> str:
    """About ``size`` words of ``text`` around the most distinct matched words, HTML-escaped,
    matched words in ``<mark>``, "…" where the text was cut."""
    scanned = _scan(text, stems)
    if not scanned:
        return ""
    hits = [i for i, word in enumerate(scanned) if word.stem]
    best_start, best_distinct = 0, 0
    counts: dict[str | None, int] = {}
    right = 0
    for left, i in enumerate(hits):  # windows starting at each hit, two pointers
        while right < len(hits) and hits[right] < i + size:
            key = scanned[hits[right]].stem
            counts[key] = counts.get(key, 0) + 1
            right += 1
        if len(counts) > best_distinct:
            best_start, best_distinct = i, len(counts)
        key = scanned[hits[left]].stem
        counts[key] -= 1
        if not counts[key]:
            del counts[key]
    # Start a few words before the first hit, so it reads in context.
    start = max(0, min(best_start - 4, len(scanned) - size))
    end = min(len(scanned), start + size) - 1
    body = _render(text, scanned, start, end)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(scanned) - 1 else html.escape(text[scanned[end].end :].rstrip())
    return f"{prefix}{body}{suffix}"


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchHit:
    type: str  # document | product
    id: int
    sku: str | None
    title: str
    kind: str  # datasheet | leaflet | manual | product
    version: int | None
    superseded: bool
    score: float
    title_html: str
    snippet_html: str
    effective_date: dt.date | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    kind: str | None
    terms: tuple[QueryTerm, ...]
    hits: tuple[SearchHit, ...]
    all_terms: bool  # False when no result had every term and any term was accepted
    took_ms: float
    cached: bool = False

    @property
    def corrections(self) -> dict[str, tuple[str, ...]]:
        return {t.word: t.corrections for t in self.terms if t.corrections}


def validate(q: str | None, kind: str | None, limit: int) -> tuple[str, str | None]:
    query = (q or "").strip()
    if not query:
        raise InvalidInput("q: the search text is empty", field="q")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"q: at most {MAX_QUERY_LENGTH} characters", field="q")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind: one of {', '.join(KINDS)}", field="kind")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}", field="limit")
    return query, kind


class _Cache:
    """A small LRU of query results with a time to live."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self.entries: OrderedDict[tuple[object, ...], tuple[float, SearchResults]] = OrderedDict()

    def get(self, key: tuple[object, ...], now: float) -> SearchResults | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if now - entry[0] > self.ttl:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple[object, ...], value: SearchResults, now: float) -> None:
        self.entries[key] = (now, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class SearchEngine:
    """Searches one database: holds its vocabulary and its cache of hot queries."""

    db: Database
    use_cache: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: _Cache = field(default_factory=lambda: _Cache(CACHE_SIZE, CACHE_TTL_SECONDS))
    _vocabulary: Vocabulary | None = None
    _vocabulary_loaded_at: float = 0.0
    _vocabulary_stale: bool = False
    _refreshing: bool = False
    _generation: int | None = None
    _checked_at: float = float("-inf")
    _changes: int = 0

    def search(self, q: str | None, *, kind: str | None = None, limit: int = 10) -> SearchResults:
        """The best ``limit`` documents and products for ``q`` (optionally of one ``kind``)."""
        started = time.perf_counter()
        query, kind = validate(q, kind, limit)
        key = (normalised_query(query), kind, limit)
        now = time.monotonic()
        cached = self._cached(key, now)
        if cached is not None:
            return cached
        with self.db.read() as session:
            if now - self._checked_at >= GENERATION_CHECK_SECONDS:
                self._observe(repo.generation(session), now)
                cached = self._cached(key, now)
                if cached is not None:
                    return cached
            with self._lock:
                changes = self._changes  # a change from here on: do not cache this result
            vocabulary = self._vocabulary_for(session, now)
            terms = parse(query, vocabulary)
            hits: tuple[SearchHit, ...] = ()
            all_terms = True
            if terms:
                groups = tuple(t.alternatives for t in terms)
                rows = repo.match(session, MatchSpec(groups, True, kind), limit)
                if not rows and len(terms) > 1:
                    all_terms = False
                    rows = repo.match(session, MatchSpec(groups, False, kind), limit)
                stems = frozenset(s for t in terms for s in t.alternatives)
                hits = _hits(session, rows, stems)
        took = (time.perf_counter() - started) * 1000
        result = SearchResults(query, kind, terms, hits, all_terms, round(took, 2))
        with self._lock:
            if self.use_cache and changes == self._changes:
                self._cache.put(key, result, now)
        return result

    def terms(self, q: str) -> tuple[QueryTerm, ...]:
        """How ``q`` is understood (stems and typo corrections), without searching."""
        with self.db.read() as session:
            vocabulary = self._vocabulary_for(session, time.monotonic())
        return parse(q[:MAX_QUERY_LENGTH], vocabulary)

    def _cached(self, key: tuple[object, ...], now: float) -> SearchResults | None:
        if not self.use_cache:
            return None
        with self._lock:
            if now - self._checked_at >= GENERATION_CHECK_SECONDS:
                return None
            found = self._cache.get(key, now)
        return replace(found, cached=True, took_ms=0.0) if found else None

    def _observe(self, generation: int, now: float) -> None:
        with self._lock:
            if generation != self._generation:
                self._cache.clear()
                self._changes += 1
                if self._generation is not None:
                    self._vocabulary_stale = True
                self._generation = generation
            self._checked_at = now

    def _vocabulary_for(self, session: Session, now: float) -> Vocabulary:
        vocabulary = self._vocabulary
        if vocabulary is None:
            vocabulary = Vocabulary(repo.vocabulary(session))
            with self._lock:
                self._vocabulary, self._vocabulary_loaded_at = vocabulary, now
                self._vocabulary_stale = False
        elif (
            self._vocabulary_stale
            and not self._refreshing
            and now - self._vocabulary_loaded_at >= VOCABULARY_REFRESH_SECONDS
        ):
            self._refreshing = True
            threading.Thread(target=self._reload_vocabulary, daemon=True).start()
        return vocabulary

    def _reload_vocabulary(self) -> None:
        try:
            with self.db.read() as session:
                fresh = Vocabulary(repo.vocabulary(session))
            with self._lock:
                self._vocabulary, self._vocabulary_loaded_at = fresh, time.monotonic()
                self._vocabulary_stale = False
        finally:
            self._refreshing = False

    def changed(self, pairs: Iterable[tuple[str, str]]) -> None:
        """This process changed the index: forget cached results, learn the new words."""
        with self._lock:
            self._cache.clear()
            self._changes += 1
            self._checked_at = float("-inf")
            if self._vocabulary is not None:
                self._vocabulary.add(pairs)

    def forget(self) -> None:
        """Drop the cache and the vocabulary (tests; after the index was emptied)."""
        with self._lock:
            self._cache.clear()
            self._changes += 1
            self._vocabulary = None
            self._generation = None
            self._checked_at = float("-inf")


def _hits(
    session: Session, rows: Sequence[MatchRow], stems: frozenset[str]
) -> tuple[SearchHit, ...]:
    documents = repo.documents_by_id(session, (r.entity_id for r in rows if r.entity == DOCUMENT))
    products = repo.products_by_id(session, (r.entity_id for r in rows if r.entity == PRODUCT))
    hits = []
    for row in rows:
        score = float(f"{row.score:.6g}")
        if row.entity == DOCUMENT and row.entity_id in documents:
            doc = documents[row.entity_id]
            hits.append(
                SearchHit(
                    DOCUMENT,
                    doc.id,
                    doc.sku,
                    doc.title,
                    doc.kind,
                    doc.version,
                    doc.superseded,
                    score,
                    highlight(doc.title, stems),
                    snippet(doc.body, stems),
                    doc.effective_date,
                    doc.language,
                )
            )
        elif row.entity == PRODUCT and row.entity_id in products:
            product = products[row.entity_id]
            parts = (f"SKU {product.sku}", product.ean and f"EAN {product.ean}", product.category)
            details = " · ".join(part for part in parts if part)
            hits.append(
                SearchHit(
                    PRODUCT,
                    product.id,
                    product.sku,
                    product.name,
                    PRODUCT,
                    None,
                    not product.active,
                    score,
                    highlight(product.name, stems),
                    highlight(details, stems),
                )
            )
    return tuple(hits)


_engines: dict[str, SearchEngine] = {}
_engines_lock = threading.Lock()


def _engine_key(url: object) -> str:
    return str(url)


def engine_for(db: Database) -> SearchEngine:
    """The process's search engine for a database."""
    key = _engine_key(db.write_engine.url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = SearchEngine(db)
        elif engine.db is not db:
            engine.db = db  # the same database through another Database object: keep the cache
        return engine


def search(
    db: Database, q: str | None, *, kind: str | None = None, limit: int = 10
) -> SearchResults:
    return engine_for(db).search(q, kind=kind, limit=limit)


# --- keeping the index current --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    """What indexing a document version needs (the columns of a ``ProductDocument``)."""

    id: int
    kind: str
    sku: str | None
    title: str
    body: str
    version: int
    superseded: bool


def document_row(doc: ProductDocument | IndexedDocument) -> tuple[IndexRow, set[str]]:
    """The index row of a document version and its raw words (for the vocabulary)."""
    title_terms, raws = _terms(doc.title)
    body_terms, body_raws = _terms(f"{doc.body}\n{doc.sku or ''}")
    row = IndexRow(
        DOCUMENT,
        doc.id,
        doc.kind,
        doc.sku,
        doc.title,
        doc.version,
        bool(doc.superseded),
        title_terms,
        body_terms,
    )
    return row, raws | body_raws


def product_row(product: Product) -> tuple[IndexRow, set[str]]:
    """The index row of a product and its raw words (for the vocabulary)."""
    title_terms, raws = _terms(f"{product.name}\n{product.sku}")
    body_terms, body_raws = _terms(f"{product.sku} {product.ean or ''} {product.category}")
    row = IndexRow(
        PRODUCT,
        product.id,
        PRODUCT,
        product.sku,
        product.name,
        1,
        not product.active,
        title_terms,
        body_terms,
    )
    return row, raws | body_raws


def index_documents(session: Session, ids: Iterable[int]) -> int:
    """(Re)index product documents in the caller's transaction (ids of documents that no
    longer exist are removed from the index). Call it after applying documents."""
    wanted = sorted(set(ids))
    found = repo.documents_by_id(session, wanted)
    built = [document_row(doc) for doc in found.values()]
    gone = [repo.entry_id(DOCUMENT, i) for i in wanted if i not in found]
    return _write(session, built, gone)


def index_document_rows(session: Session, docs: Sequence[IndexedDocument]) -> int:
    """(Re)index document versions already at hand (as just written, e.g. by
    :func:`sincro.catalog.documents.apply_documents`), in the caller's transaction."""
    return _write(session, [document_row(doc) for doc in docs], [])


def set_documents_superseded(session: Session, flags: Mapping[int, bool]) -> int:
    """Change only the ``superseded`` flag of indexed document versions (id -> flag), in the
    caller's transaction, after the flags were written to ``product_documents``: the index
    row keeps its terms (their text did not change), so nothing is analysed or converted
    again. A version without an index row is indexed in full from the table."""
    if not flags:
        return 0
    now = utcnow()
    found: set[int] = set()
    for value in (True, False):
        ids = sorted(repo.entry_id(DOCUMENT, i) for i, flag in flags.items() if flag is value)
        found |= repo.set_superseded(session, ids, value, now)
    _pending_words(session)  # the generation bump at commit: cached results hold the flag
    missing = [i for i in flags if repo.entry_id(DOCUMENT, i) not in found]
    return len(found) + (index_documents(session, missing) if missing else 0)


def index_products(session: Session, ids: Iterable[int]) -> int:
    """(Re)index products in the caller's transaction (call it after creating or changing
    products; ids of deleted products are removed from the index)."""
    wanted = sorted(set(ids))
    found = repo.products_by_id(session, wanted)
    built = [product_row(product) for product in found.values()]
    gone = [repo.entry_id(PRODUCT, i) for i in wanted if i not in found]
    return _write(session, built, gone)


def _write(
    session: Session,
    built: Sequence[tuple[IndexRow, set[str]]],
    gone: Sequence[int],
    known_words: set[str] | None = None,
) -> int:
    """Write index rows (each with its raw words) and remove entries; the vocabulary pairs of
    the rows' words are added at commit (:func:`_finish`)."""
    if not built and not gone:
        return 0
    raws: set[str] = set()
    raws.update(*[row_raws for _, row_raws in built])
    pairs = _pairs_of(raws)
    if known_words is not None:
        pairs = {p for p in pairs if p[0] not in known_words}
        known_words.update(word for word, _ in pairs)
    repo.delete(session, gone)
    repo.upsert(session, [row for row, _ in built], utcnow())
    _pending_words(session).update(pairs)
    return len(built) + len(gone)


def _pending_words(session: Session) -> set[tuple[str, str]]:
    """The vocabulary pairs the transaction adds at its end, where the index generation is
    bumped too (:func:`_finish`, registered by the transaction's first change of the index)."""
    pending: set[tuple[str, str]] | None = session.info.get(PENDING_WORDS)
    if pending is None:
        pending = session.info[PENDING_WORDS] = set()
        before_commit(session, PENDING_WORDS, lambda: _finish(session))
    return pending


def _finish(session: Session) -> None:
    """Once per transaction, at its end: the new words (one sorted statement) and the
    generation bump. Both are rows every indexing transaction shares; taking them last and in
    one order keeps concurrent syncs (products and documents at once) from deadlocking, and
    holds them only until the commit."""
    pairs = session.info.pop(PENDING_WORDS, set())
    repo.add_words(session, pairs)
    repo.bump_generation(session)
    key = _engine_key(session.get_bind().engine.url)
    on_commit(session, lambda: _notify(key, pairs))


def _notify(key: str, pairs: set[tuple[str, str]]) -> None:
    engine = _engines.get(key)
    if engine is not None:
        engine.changed(pairs)


@dataclass(frozen=True, slots=True)
class ReindexStats:
    documents: int
    products: int
    removed: int
    seconds: float


Progress = Callable[[int, int], None]


def reindex_all(
    db: Database, progress: Progress | None = None, batch: int = REINDEX_BATCH
) -> ReindexStats:
    """Rebuild the whole index from the documents and products, one transaction per batch
    (searches keep working meanwhile); entries of deleted rows are removed at the end.
    ``progress(done, total)`` is called after each batch."""
    started = time.perf_counter()
    with db.read() as session:
        document_ids = repo.document_ids(session)
        product_ids = repo.product_ids(session)
    total = len(document_ids) + len(product_ids)
    done = 0
    known: set[str] = set()
    if progress:
        progress(0, total)
    for ids, loader, builder in (
        (document_ids, repo.documents_by_id, document_row),
        (product_ids, repo.products_by_id, product_row),
    ):
        for offset in range(0, len(ids), batch):
            chunk = ids[offset : offset + batch]
            with db.write() as session:
                rows = loader(session, chunk)
                _write(session, [builder(r) for r in rows.values()], [], known)  # type: ignore[arg-type]
            done += len(chunk)
            if progress:
                progress(done, total)
    with db.write() as session:
        removed = repo.delete_orphans(session)
        repo.bump_generation(session)
    engine = _engines.get(_engine_key(db.write_engine.url))
    if engine is not None:
        engine.forget()
    return ReindexStats(
        len(document_ids), len(product_ids), removed, round(time.perf_counter() - started, 2)
    )


def clear_index(db: Database) -> None:
    """Empty the index (tests, benchmarks)."""
    with db.write() as session:
        repo.clear(session)
    engine = _engines.get(_engine_key(db.write_engine.url))
    if engine is not None:
        engine.forget()
