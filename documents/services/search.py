"""Search: vector (pgvector cosine, the active model only), keyword (PostgreSQL full text) and hybrid (both,
fused by reciprocal rank fusion). The one search code path for POST /search, chat retrieval and the evaluation."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from documents.models import Chunk
from documents.selectors import chunk_keyword_search, chunk_vector_search
from documents.services.embeddings import EmbeddingProvider, embedding_provider

MODES = ("hybrid", "vector", "keyword")
SNIPPET_WIDTH = 300
# Hybrid search fuses this many candidates per ranking and per requested result: fusion needs depth to help.
HYBRID_CANDIDATES_PER_RESULT = 4


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
    """The top_k chunks for a query, best first. Side effects: one embedding call in vector and hybrid modes."""
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}")
    depth = top_k * HYBRID_CANDIDATES_PER_RESULT if mode == "hybrid" else top_k
    vector_hits: list[Chunk] = []
    keyword_hits: list[Chunk] = []
    if mode in ("vector", "hybrid"):
        provider = provider or embedding_provider()
        (query_vector,) = provider.embed([query])
        vector_hits = chunk_vector_search(
            query_vector=query_vector, model=provider.model, k=depth, vault_id=vault_id, filters=filters
        )
    if mode in ("keyword", "hybrid"):
        keyword_hits = chunk_keyword_search(query=query, k=depth, vault_id=vault_id, filters=filters)

    if mode == "vector":
        # Cosine similarity; the rare negative one (an unrelated text) counts as no similarity at all.
        scored = [(chunk, min(1.0, max(0.0, 1.0 - float(chunk.distance)))) for chunk in vector_hits]
    elif mode == "keyword":
        scored = [(chunk, float(chunk.rank)) for chunk in keyword_hits]
    else:
        scored = _fused(vector_hits, keyword_hits)
    return [_hit(chunk, score, query) for chunk, score in scored[:top_k]]


def _fused(vector_hits: list[Chunk], keyword_hits: list[Chunk]) -> list[tuple[Chunk, float]]:
    """Reciprocal rank fusion, scaled so that a chunk ranked first by both rankings scores 1."""
    k = settings.SEARCH_RRF_K
    weights = ((vector_hits, settings.SEARCH_VECTOR_WEIGHT), (keyword_hits, settings.SEARCH_KEYWORD_WEIGHT))
    best = sum(weight for _, weight in weights) / (k + 1) or 1.0
    scores: dict[int, float] = {}
    chunks: dict[int, Chunk] = {}
    for hits, weight in weights:
        for rank, chunk in enumerate(hits, start=1):
            scores[chunk.pk] = scores.get(chunk.pk, 0.0) + weight / (k + rank)
            chunks.setdefault(chunk.pk, chunk)
    ordered = sorted(scores, key=lambda pk: (-scores[pk], pk))
    return [(chunks[pk], min(1.0, scores[pk] / best)) for pk in ordered]


def _hit(chunk: Chunk, score: float, query: str) -> SearchHit:
    document = chunk.document
    return SearchHit(
        chunk_id=chunk.pk,
        document_id=document.pk,
        title=document.title,
        source=document.source,
        text=chunk.text,
        snippet=snippet_make(chunk.text, query),
        score=round(score, 6),
    )


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
