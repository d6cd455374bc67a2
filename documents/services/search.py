"""Search: vector (pgvector cosine, the active model only), keyword (PostgreSQL full text) and hybrid (both,
fused by reciprocal rank fusion). The one search code path for POST /search, chat retrieval and the evaluation."""

from __future__ import annotations

import contextvars
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections

from documents.selectors import Passage, chunk_keyword_search, chunk_vector_search
from documents.services.embeddings import EmbeddingProvider, embedding_provider

MODES = ("hybrid", "vector", "keyword")
SNIPPET_WIDTH = 300
# Hybrid search fuses this many candidates per ranking and per requested result: fusion needs depth to help.
HYBRID_CANDIDATES_PER_RESULT = 4

# Hybrid search runs its two halves side by side: the keyword search on the request's own thread and database
# connection, and the vector half here — the query's embedding (a network call or a model run), then the vector
# query on this thread's own connection. Bounded: one worker per concurrent search of a gunicorn worker's threads.
_vector_half = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vector-search")
# The pool threads' connections (Django keeps one per thread), so they can be closed from outside: see below.
_vector_half_connections: set[Any] = set()
_vector_half_lock = threading.Lock()


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: uuid.UUID
    title: str
    source: str
    text: str
    snippet: str
    score: float  # in [0, 1], higher is better


def chunks_search(
    *,
    query: str,
    top_k: int,
    mode: str = "hybrid",
    vault_id: uuid.UUID | None = None,
    filters: dict[str, Any] | None = None,
    provider: EmbeddingProvider | None = None,
) -> list[SearchHit]:
    """The top_k chunks for a query, best first. Side effects: one embedding call in vector and hybrid modes.

    Each ranking returns its chunks with their passages (see selectors.with_passages), so fusion needs no further
    query.
    """
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}")
    depth = top_k * HYBRID_CANDIDATES_PER_RESULT if mode == "hybrid" else top_k
    vector_hits: list[tuple[Passage, float]] = []
    keyword_hits: list[tuple[Passage, float]] = []
    if mode == "keyword":
        keyword_hits = chunk_keyword_search(query=query, k=depth, vault_id=vault_id, filters=filters)
    elif mode == "vector":
        provider = provider or embedding_provider()
        vector_hits = _vector_ranking(provider, query, k=depth, vault_id=vault_id, filters=filters)
    else:
        provider = provider or embedding_provider()
        if connection.in_atomic_block:
            # A second connection cannot see the caller's uncommitted writes (only tests search inside a
            # transaction): both halves run here, one after the other.
            keyword_hits = chunk_keyword_search(query=query, k=depth, vault_id=vault_id, filters=filters)
            vector_hits = _vector_ranking(provider, query, k=depth, vault_id=vault_id, filters=filters)
        else:
            work = partial(_vector_ranking_elsewhere, provider, query, k=depth, vault_id=vault_id, filters=filters)
            # copy_context: the request id travels with the work into its log lines.
            vector_half = _vector_half.submit(contextvars.copy_context().run, work)
            try:
                keyword_hits = chunk_keyword_search(query=query, k=depth, vault_id=vault_id, filters=filters)
            except BaseException:
                vector_half.cancel()
                raise
            vector_hits = vector_half.result()

    if mode == "vector":
        # Cosine similarity; the rare negative one (an unrelated text) counts as no similarity at all.
        scored = [(passage, min(1.0, max(0.0, 1.0 - distance))) for passage, distance in vector_hits]
    elif mode == "keyword":
        scored = keyword_hits
    else:
        passages = {passage.chunk_id: passage for passage, _ in (*vector_hits, *keyword_hits)}
        scored = [(passages[pk], score) for pk, score in _fused(vector_hits, keyword_hits)]
    return [
        SearchHit(
            chunk_id=passage.chunk_id,
            document_id=passage.document_id,
            title=passage.title,
            source=passage.source,
            text=passage.text,
            snippet=snippet_make(passage.text, query),
            score=round(score, 6),
        )
        for passage, score in scored[:top_k]
    ]


def _vector_ranking(
    provider: EmbeddingProvider, query: str, *, k: int, vault_id: uuid.UUID | None, filters: dict[str, Any] | None
) -> list[tuple[Passage, float]]:
    (query_vector,) = provider.embed([query])
    return chunk_vector_search(query_vector=query_vector, model=provider.model, k=k, vault_id=vault_id, filters=filters)


def _vector_ranking_elsewhere(
    provider: EmbeddingProvider, query: str, *, k: int, vault_id: uuid.UUID | None, filters: dict[str, Any] | None
) -> list[tuple[Passage, float]]:
    """_vector_ranking on a pool thread: its connection is checked (age, health) as a request's would be."""
    close_old_connections()
    with _vector_half_lock:
        _vector_half_connections.add(connections[DEFAULT_DB_ALIAS])
    return _vector_ranking(provider, query, k=k, vault_id=vault_id, filters=filters)


def vector_half_connections_close() -> None:
    """Close the pool threads' database connections (before a test database is dropped: PostgreSQL refuses while
    a session is connected). A closed one is noticed and reopened by its thread's next search."""
    with _vector_half_lock:
        wrappers = list(_vector_half_connections)
        _vector_half_connections.clear()
    for wrapper in wrappers:
        if wrapper.connection is not None:
            wrapper.connection.close()  # psycopg's own connection: closing it from another thread is allowed


def _fused(
    vector_hits: list[tuple[Passage, float]], keyword_hits: list[tuple[Passage, float]]
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion, scaled so that a chunk ranked first by both rankings scores 1."""
    k = settings.SEARCH_RRF_K
    weights = ((vector_hits, settings.SEARCH_VECTOR_WEIGHT), (keyword_hits, settings.SEARCH_KEYWORD_WEIGHT))
    best = sum(weight for _, weight in weights) / (k + 1) or 1.0
    scores: dict[int, float] = {}
    for hits, weight in weights:
        for rank, (passage, _) in enumerate(hits, start=1):
            scores[passage.chunk_id] = scores.get(passage.chunk_id, 0.0) + weight / (k + rank)
    ordered = sorted(scores, key=lambda pk: (-scores[pk], pk))
    return [(pk, min(1.0, scores[pk] / best)) for pk in ordered]


def snippet_make(text: str, query: str, width: int = SNIPPET_WIDTH) -> str:
    """The passage of `text` around the first query word it contains, at most `width` characters, cut at word
    boundaries, with an ellipsis where something was left out."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    lower = text.lower()
    positions = [lower.find(word) for word in re.findall(r"\w{3,}", query.lower())]
    first = min((position for position in positions if position >= 0), default=0)
    start = max(0, first - width // 3)
    if start > 0:
        start = text.find(" ", start) + 1 or start  # begin at a word
    end = start + width
    if end < len(text):
        end = text.rfind(" ", start, end) if text.rfind(" ", start, end) > start else end  # end at a word
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")
