"""Reads of documents and chunks."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Prefetch, Q, QuerySet
from psycopg import sql as pg_sql
from psycopg.types.json import Jsonb

from documents.models import TEXT_SEARCH_CONFIG, Chunk, Document, EmbeddingSpace, Vault
from documents.services.vector_index import vector_cast, vector_connection
from ragsite.apikeys.scoping import in_vault_scope
from ragsite.errors import DocumentNotFound, VaultNotFound


def document_list(*, vault_id: uuid.UUID | None = None, q: str | None = None) -> QuerySet[Document]:
    """Documents newest first, with `chunk_count` and `embedding_model`; filtered by vault and by a title or
    source containing q. The text is deferred: lists never need it."""
    documents = Document.objects.defer("text").annotate(
        chunk_count=Count("chunks"), embedding_model=Min("chunks__embedding_model")
    )
    if vault_id is not None:
        documents = documents.filter(vault_id=vault_id)
    if q:
        documents = documents.filter(Q(title__icontains=q) | Q(source__icontains=q))
    return documents.order_by("-created_at", "-id")


def document_get(*, document_id: uuid.UUID, vault_scope: uuid.UUID | None = None) -> Document:
    """One document with its chunks prefetched in order; DocumentNotFound if there is none (or, with
    `vault_scope`, none in that vault)."""
    chunks = Chunk.objects.only("id", "document_id", "position", "text").order_by("position")  # never the vectors
    documents = Document.objects.annotate(
        chunk_count=Count("chunks"), embedding_model=Min("chunks__embedding_model")
    ).prefetch_related(Prefetch("chunks", queryset=chunks))
    document = in_vault_scope(documents, vault_scope).filter(pk=document_id).first()
    if document is None:
        raise DocumentNotFound(detail=f"no document with id {document_id}")
    return document


def vault_list(*, vault_scope: uuid.UUID | None = None) -> QuerySet[Vault]:
    """Vaults by name, each with its `document_count`; with `vault_scope`, that vault alone."""
    vaults = Vault.objects.annotate(document_count=Count("documents")).order_by("name")
    return in_vault_scope(vaults, vault_scope, field="pk")


def vault_get(*, vault_id: uuid.UUID, with_document_count: bool = False, vault_scope: uuid.UUID | None = None) -> Vault:
    """One vault, with its `document_count` if asked; VaultNotFound if there is none (or it is not `vault_scope`).

    Ingest, search and chat only check that the vault exists: counting a large vault's documents on every request
    would be their slowest query.
    """
    vaults = vault_list() if with_document_count else Vault.objects.all()
    vault = in_vault_scope(vaults, vault_scope, field="pk").filter(pk=vault_id).first()
    if vault is None:
        raise VaultNotFound(detail=f"no vault with id {vault_id}")
    return vault


def chunk_vector_search(
    *,
    query_vector: Sequence[float],
    model: str,
    k: int,
    vault_id: uuid.UUID | None = None,
    filters: dict[str, Any] | None = None,
) -> list[tuple[Passage, float]]:
    """The k chunks embedded with `model` nearest to query_vector (cosine), nearest first, each with its cosine
    distance."""
    statement = vector_statement(query_vector=query_vector, model=model, k=k, vault_id=vault_id, filters=filters)
    if statement is None:
        return []
    # Four round trips (BEGIN, the scan settings, the query, COMMIT). psycopg's pipeline mode makes them one, but a
    # chat turn measured no faster with it (this half runs beside the keyword half, the slower one), and it needs
    # vector_connection to run Django's health check, or a connection a database restart broke keeps failing.
    with transaction.atomic(), connection.wrap_database_errors, vector_connection().cursor() as cursor:
        cursor.execute(*statement.configure)
        # Never prepared: a prepared statement's generic plan is made without the LIMIT and the filter values.
        cursor.execute(statement.sql, statement.params, prepare=False)
        return [(Passage(*passage), float(distance)) for distance, *passage in cursor.fetchall()]


def chunk_vector_explain(
    *, query_vector: Sequence[float], model: str, k: int, vault_id: uuid.UUID | None = None
) -> str:
    """EXPLAIN of the query chunk_vector_search runs, under the same scan settings (tests, the benchmark)."""
    statement = vector_statement(query_vector=query_vector, model=model, k=k, vault_id=vault_id)
    if statement is None:
        return ""
    with transaction.atomic(), connection.wrap_database_errors, vector_connection().cursor() as cursor:
        cursor.execute(*statement.configure)
        cursor.execute("EXPLAIN " + statement.sql, statement.params, prepare=False)
        return "\n".join(row[0] for row in cursor.fetchall())


@dataclass(frozen=True)
class VectorStatement:
    configure: tuple[str, list[Any]]  # the scan settings, for this transaction only
    sql: str
    params: list[Any]


def vector_statement(
    *,
    query_vector: Sequence[float],
    model: str,
    k: int,
    vault_id: uuid.UUID | None = None,
    filters: dict[str, Any] | None = None,
) -> VectorStatement | None:
    """The statements of a vector search; None when the model has no chunks of the query vector's width.

    The ordering expression and the `embedding_model` filter repeat the partial HNSW index definition exactly,
    which is what lets PostgreSQL use the index (see documents/services/vector_index.py). The model is therefore
    a literal in the statement, not a parameter: a generic plan of a prepared statement could not prove that the
    partial index covers the rows. The scan settings last for the statement's transaction only:
    - enable_sort off: pgvector's cost model does not count reading vectors stored out of line (over ~2 KB: 512
      dimensions and up), so on a few hundred chunks the planner reads and sorts them all — 3.1 ms instead of
      0.96 ms through the index (500 CISI chunks of 1,536 dimensions);
    - vault and metadata filters apply after the index scan, so the scan is made iterative (pgvector 0.8) or
      wider (older pgvector): a filtered search still finds k chunks whenever k match.
    """
    import numpy as np  # loaded by the embedding provider already; not on every import of this module

    dimensions = embedding_width(model=model)
    if dimensions != len(query_vector):
        return None
    cast = vector_cast(dimensions)
    filtered = vault_id is not None or bool(filters)
    settings_: dict[str, str] = {"enable_sort": "off"}
    if pgvector_has_iterative_scan():
        settings_["hnsw.iterative_scan"] = "strict_order"
        if filtered:  # a selective filter may need more than the default 20,000 tuples to find k rows
            settings_["hnsw.max_scan_tuples"] = "200000"
    if filtered:
        settings_["hnsw.ef_search"] = str(max(100, 4 * k))
    configure = (
        "SELECT set_config(name, value, true) FROM unnest(%s::text[], %s::text[]) AS s(name, value)",
        [list(settings_), list(settings_.values())],
    )
    expression = f"(c.embedding::{cast.type}({cast.dimensions}))"  # from a closed set: vector/halfvec, an int
    sql = f"SELECT c.id, {expression} <=> %b::{cast.type} AS distance FROM documents_chunk c "
    params: list[Any] = [np.asarray(query_vector, dtype=np.float32)]  # sent in binary: see vector_connection
    if filtered:
        sql += "JOIN documents_document d ON d.id = c.document_id "
    # Quoted by psycopg as a string literal; the statement's other values stay parameters.
    sql += "WHERE c.embedding_model = " + pg_sql.Literal(model).as_string() + " "
    if vault_id is not None:
        sql += "AND d.vault_id = %s "
        params.append(vault_id)
    if filters:
        sql += "AND d.metadata @> %s "
        params.append(Jsonb(filters))
    sql += "ORDER BY distance LIMIT %s"
    params.append(k)
    return VectorStatement(
        configure=configure, sql=with_passages(sql, value="distance", order="r.distance, r.id"), params=params
    )


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: uuid.UUID
    title: str
    source: str
    text: str


def with_passages(ranking: str, *, value: str, order: str) -> str:
    """A ranking statement (chunk ids and a score, limited to k) extended with each ranked chunk's passage.

    Read by the ranking's own statement: the few passages kept after fusion cost no further query, and a ranked
    chunk is never missing its passage because its document was deleted or updated in between. Rows come out as
    (score, chunk id, document id, title, source, text).
    """
    return (
        f"SELECT r.{value}, c.id, c.document_id, d.title, d.source, c.text FROM ({ranking}) AS r "
        "JOIN documents_chunk c ON c.id = r.id JOIN documents_document d ON d.id = c.document_id "
        f"ORDER BY {order}"
    )


_widths: dict[str, int] = {}


def embedding_width(*, model: str) -> int | None:
    """The width of a model's vectors, None for a model nothing was embedded with. Cached once known: a model's
    width never changes (EmbeddingSpace refuses that)."""
    width = _widths.get(model)
    if width is None:
        width = EmbeddingSpace.objects.filter(model=model).values_list("dimensions", flat=True).first()
        if width is not None:
            _widths[model] = width
    return width


# Words of a query that count: a pasted page is searched by its first distinct words, not by thousands.
MAX_QUERY_TERMS = 64
# BM25's usual constants: term-frequency saturation and document-length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75

# Candidates: chunks matching the query (websearch syntax with "and" relaxed to "or", so quoted phrases and
# -exclusions hold) and the candidate tsquery (see _candidates). Each is scored with BM25: term frequencies from the
# lexeme positions of the query's own words — setweight marks them and ts_filter keeps only them, so PostgreSQL
# expands a handful of lexemes per chunk instead of all of them (three times faster) — and length from token_count.
# The documents table is joined only when a vault or metadata filter needs it. The constants are cast to float8:
# quoted into the statement they would be numeric, whose arithmetic made the statement a fifth slower.
_BM25_SELECT = """
SELECT c.id, SUM(
    t.idf * array_length(u.positions, 1) * (%(k1)s::float8 + 1) / (
        array_length(u.positions, 1)
        + %(k1)s::float8 * (1 - %(b)s::float8 + %(b)s::float8 * c.token_count / %(avgdl)s::float8)
    )
) AS score
FROM documents_chunk c
"""
_BM25_DOCUMENT_JOIN = "JOIN documents_document d ON d.id = c.document_id\n"
_BM25_TERMS = """
CROSS JOIN LATERAL unnest(ts_filter(setweight(c.search_vector, 'A', %(terms)s::text[]), '{a}'))
    AS u(lexeme, positions, weights)
JOIN unnest(%(terms)s::text[], %(idfs)s::float8[]) AS t(term, idf) ON t.term = u.lexeme
WHERE c.search_vector @@ %(candidates)s::tsquery
"""
# Quoted phrases, -exclusions and hyphenated words (a phrase to websearch_to_tsquery) need the query's own
# semantics; without them it is an "or" of the query's lexemes, which the candidates already imply.
_BM25_WEBSEARCH = """    AND c.search_vector @@ regexp_replace(
        (websearch_to_tsquery(%(config)s::regconfig, %(query)s))::text, ' & (?!!)', ' | ', 'g')::tsquery
"""
_BM25_VAULT = "    AND d.vault_id = %(vault_id)s::uuid\n"
_BM25_FILTERS = "    AND d.metadata @> %(filters)s::jsonb\n"
_BM25_ORDER = """GROUP BY c.id
ORDER BY score DESC, c.id
LIMIT %(k)s
"""


@dataclass(frozen=True)
class KeywordStatement:
    sql: str
    params: dict[str, Any]
    best_possible: float  # the BM25 score of a chunk matching every query word at saturation: scores / it ∈ [0, 1]
    narrowed: bool  # candidates are the chunks holding all of several common words (see _candidates)


def chunk_keyword_search(
    *, query: str, k: int, vault_id: uuid.UUID | None = None, filters: dict[str, Any] | None = None
) -> list[tuple[Passage, float]]:
    """The k chunks best matching `query` by BM25 over the chunks' full-text vectors, best first, each with its
    score in [0, 1] (its BM25 score over the best score the query could reach).

    PostgreSQL's own ts_rank knows nothing of how rare a word is, so "library" would weigh as much as "Dewey";
    BM25's inverse document frequency is what makes keyword retrieval worth fusing with vectors.
    """
    statement = keyword_statement(query=query, k=k, vault_id=vault_id, filters=filters)
    if statement is None:
        return []
    scored = _keyword_run(statement)
    if statement.narrowed and len(scored) < k:
        # The chunks holding all the common words were too few: score every chunk holding the rarest one.
        wide = keyword_statement(query=query, k=k, vault_id=vault_id, filters=filters, narrow=False)
        if wide is not None:
            scored = _keyword_run(wide)
    return scored


def _keyword_run(statement: KeywordStatement) -> list[tuple[Passage, float]]:
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        rows = cursor.fetchall()
    best = statement.best_possible
    return [(Passage(*passage), min(1.0, max(0.0, float(score) / best))) for score, *passage in rows]


def _candidates(terms: list[str], frequencies: list[int], *, total: int, narrow: bool) -> tuple[str, bool]:
    """The candidate tsquery and whether it was narrowed. BM25 scores every candidate row in SQL (a few µs each), so
    candidates are bounded by SEARCH_KEYWORD_CANDIDATES: the chunks containing the query's rarer words, taken rarest
    first while their document frequencies add up to the bound. A chunk holding only the query's most common words
    would score too low to rank anyway (their IDF is small).

    When even the rarest word is in more chunks than the bound (a query of common words only), the chunks that
    score best are those holding several of them, so the candidates are the chunks holding all of the rarest few
    words, added rarest first until (assuming the words independent) about the bound remain. If that finds fewer
    than k chunks, the caller asks again with narrow=False. A one-word query of a very common word scores them all.
    """
    budget = settings.SEARCH_KEYWORD_CANDIDATES
    ordered = sorted(zip(frequencies, terms, strict=True))
    chosen: list[str] = []
    covered = 0
    for df, term in ordered:
        if chosen and covered + df > budget:
            break
        chosen.append(term)
        covered += df
    if covered <= budget or len(ordered) == 1 or not narrow:
        return " | ".join(_lexeme_query(term) for term in chosen), False
    chosen, expected = [], float(max(total, 1))
    for df, term in ordered:
        chosen.append(term)
        expected *= df / max(total, df, 1)
        if expected <= budget:
            break
    return " & ".join(_lexeme_query(term) for term in chosen), True


def keyword_statement(
    *,
    query: str,
    k: int,
    vault_id: uuid.UUID | None = None,
    filters: dict[str, Any] | None = None,
    narrow: bool = True,
) -> KeywordStatement | None:
    """The BM25 statement chunk_keyword_search runs and its parameters; None when the query has no word to match.

    Side effects: reads (and caches) the collection statistics it needs.
    """
    if all(word.startswith("-") for word in query.split()):
        return None  # only exclusions: "everything but…" is no keyword search, and would score every chunk
    terms = _query_lexemes(query)[:MAX_QUERY_TERMS]
    if not terms:
        return None
    total, average_length = _collection_stats()
    frequencies = _document_frequencies(terms, total=total)
    # max(): statistics cached in this process may predate the documents that now match.
    idfs = [math.log(1 + (max(total, df) - df + 0.5) / (df + 0.5)) for df in frequencies]
    candidates, narrowed = _candidates(terms, frequencies, total=total, narrow=narrow)
    sql = _BM25_SELECT
    if vault_id is not None or filters:
        sql += _BM25_DOCUMENT_JOIN
    sql += _BM25_TERMS
    if '"' in query or "-" in query:
        sql += _BM25_WEBSEARCH
    if vault_id is not None:
        sql += _BM25_VAULT
    if filters:
        sql += _BM25_FILTERS
    sql = with_passages(sql + _BM25_ORDER, value="score", order="r.score DESC, r.id")
    params = {
        "k1": BM25_K1,
        "b": BM25_B,
        "avgdl": max(average_length, 1.0),
        "terms": terms,
        "idfs": idfs,
        "config": TEXT_SEARCH_CONFIG,
        "query": query,
        "candidates": candidates,
        "vault_id": vault_id,
        "filters": Jsonb(filters) if filters else None,
        "k": k,
    }
    best_possible = sum(idf * (BM25_K1 + 1) for idf in idfs) or 1.0
    return KeywordStatement(sql=sql, params=params, best_possible=best_possible, narrowed=narrowed)


def _query_lexemes(query: str) -> list[str]:
    """The query's distinct lexemes in the order they first appear in it, so that cutting a long query keeps its
    beginning (sorted alphabetically, as before, a pasted page kept only the words early in the alphabet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) ORDER BY positions[1], lexeme",
            [TEXT_SEARCH_CONFIG, query],
        )
        return [row[0] for row in cursor.fetchall()]


# Collection statistics move slowly; recounting them for every query would cost more than the search itself.
# Writes in this process forget them (search_statistics_forget); other processes refresh within the TTL.
_STATS_TTL = 300.0
_STATS_MAX_ENTRIES = 10_000
_stats_cache: dict[str, tuple[float, Any]] = {}
_stats_lock = threading.Lock()


def search_statistics_forget() -> None:
    """Drop the cached BM25 statistics (after documents were added or removed)."""
    with _stats_lock:
        _stats_cache.clear()
    _widths.clear()


def _cache_get(key: str) -> Any:
    with _stats_lock:
        hit = _stats_cache.get(key)
    return hit[1] if hit is not None and time.monotonic() - hit[0] < _STATS_TTL else None


def _cache_put(key: str, value: Any) -> None:
    with _stats_lock:
        if len(_stats_cache) >= _STATS_MAX_ENTRIES:  # bounded: every new word searched adds an entry
            _stats_cache.clear()
        _stats_cache[key] = (time.monotonic(), value)


def _collection_stats() -> tuple[int, float]:
    cached = _cache_get("collection")
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), coalesce(avg(token_count), 1) FROM documents_chunk")
            total, average = cursor.fetchone()
        cached = (int(total), float(average))
        _cache_put("collection", cached)
    return cached


def _document_frequencies(terms: list[str], *, total: int) -> list[int]:
    """How many chunks contain each term. Cached ones come from memory; a word ANALYZE found among the chunks' most
    common lexemes (pg_stats.most_common_elems, kept for the planner) from its frequency there; the others are
    rarer, and are counted in one query that stops at the candidate bound. Counting a common word exactly means
    visiting every chunk that holds it, tens of thousands in a large collection, which costs more than the search
    itself, and BM25 needs little precision there: IDF changes slowly for common words. A word past the bound that
    the statistics do not know (not analysed since it became common) is counted exactly."""
    known = {term: _cache_get(f"df:{term}") for term in terms}
    missing = [term for term, df in known.items() if df is None]
    if not missing:
        return [known[term] for term in terms]
    common = _common_lexemes()
    frequencies = {term: max(1, round(common[term] * total)) for term in missing if term in common}
    rare = [term for term in missing if term not in common]
    if rare:
        cap = settings.SEARCH_KEYWORD_CANDIDATES + 1
        frequencies.update(_counted(rare, limit=cap))
        frequencies.update(_counted([term for term in rare if frequencies[term] >= cap], limit=None))
    for term, df in frequencies.items():
        known[term] = int(df)
        _cache_put(f"df:{term}", int(df))
    return [known[term] for term in terms]


def _counted(terms: list[str], *, limit: int | None) -> dict[str, int]:
    """How many chunks contain each term, counting up to `limit` (None: all) — one query for all the terms."""
    if not terms:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT term, (SELECT count(*) FROM (SELECT FROM documents_chunk WHERE search_vector @@ query "
            "LIMIT %s) AS found) FROM unnest(%s::text[], %s::tsquery[]) AS t(term, query)",
            [limit, terms, [_lexeme_query(term) for term in terms]],
        )
        return {term: int(df) for term, df in cursor.fetchall()}


def _common_lexemes() -> dict[str, float]:
    """ANALYZE's most common lexemes of the chunks' full-text vectors, each with the fraction of chunks holding it."""
    cached = _cache_get("common")
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = 'documents_chunk' AND attname = 'search_vector'"
            )
            row = cursor.fetchone()
        # The frequency array ends with three summary numbers (minimum, maximum, null fraction) past the lexemes.
        cached = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
        _cache_put("common", cached)
    return cached


def _lexeme_query(term: str) -> str:
    # A lexeme as a tsquery literal: quoted, with quotes and backslashes escaped, so any text is just text.
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


@lru_cache(maxsize=1)
def pgvector_has_iterative_scan() -> bool:
    """Whether the database's pgvector (0.8+) can continue an HNSW scan until enough rows pass the filters."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        return False
    major, minor = (int(part) for part in row[0].split(".")[:2])
    return (major, minor) >= (0, 8)
