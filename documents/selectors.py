"""Reads of documents and chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import Count, F, Min, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from documents.models import TEXT_SEARCH_CONFIG, Chunk, Document, EmbeddingSpace, Vault
from documents.services.vector_index import vector_cast
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


def document_get(*, document_id: uuid.UUID) -> Document:
    """One document with its chunks prefetched in order; DocumentNotFound if there is none."""
    chunks = Chunk.objects.only("id", "document_id", "position", "text").order_by("position")  # never the vectors
    document = (
        Document.objects.annotate(chunk_count=Count("chunks"), embedding_model=Min("chunks__embedding_model"))
        .prefetch_related(Prefetch("chunks", queryset=chunks))
        .filter(pk=document_id)
        .first()
    )
    if document is None:
        raise DocumentNotFound(detail=f"no document with id {document_id}")
    return document


def vault_list() -> QuerySet[Vault]:
    return Vault.objects.annotate(document_count=Count("documents")).order_by("name")


def vault_get(*, vault_id: uuid.UUID) -> Vault:
    """One vault with its `document_count`; VaultNotFound if there is none."""
    vault = vault_list().filter(pk=vault_id).first()
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
) -> list[Chunk]:
    """The k chunks embedded with `model` nearest to query_vector (cosine), nearest first, each with `distance`.

    The ordering expression and the `embedding_model` filter repeat the partial HNSW index definition exactly,
    which is what lets PostgreSQL use the index (see documents/services/vector_index.py). Vault and metadata
    filters apply after the index scan, so the scan is made iterative (pgvector 0.8) or wider (older pgvector) for
    this query's transaction only: a filtered search still finds k chunks whenever k match.
    """
    query = chunk_vector_query(query_vector=query_vector, model=model, k=k, vault_id=vault_id, filters=filters)
    if query is None:
        return []
    with transaction.atomic():
        vector_scan_configure(k=k, filtered=vault_id is not None or bool(filters))
        return list(query)


def chunk_vector_query(
    *,
    query_vector: Sequence[float],
    model: str,
    k: int,
    vault_id: uuid.UUID | None = None,
    filters: dict[str, Any] | None = None,
) -> QuerySet[Chunk] | None:
    """The query chunk_vector_search runs (None when the model has no chunks of this width), for EXPLAIN."""
    space = EmbeddingSpace.objects.filter(model=model).first()
    if space is None or space.dimensions != len(query_vector):
        return None
    cast = vector_cast(space.dimensions)
    field = (VectorField if cast.type == "vector" else HalfVectorField)(dimensions=cast.dimensions)
    chunks = _chunks_filtered(Chunk.objects.filter(embedding_model=model), vault_id=vault_id, filters=filters)
    return (
        chunks.annotate(distance=CosineDistance(Cast("embedding", field), list(query_vector)))
        .select_related("document")
        .defer("embedding", "search_vector", "document__text", "document__metadata")
        .order_by("distance")[:k]
    )


def vector_scan_configure(*, k: int, filtered: bool) -> None:
    """Settings for the HNSW scans of the current transaction (SET LOCAL: they end with it)."""
    with connection.cursor() as cursor:
        if pgvector_has_iterative_scan():
            cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        if filtered:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(100, 4 * k))])


def chunk_keyword_search(
    *, query: str, k: int, vault_id: uuid.UUID | None = None, filters: dict[str, Any] | None = None
) -> list[Chunk]:
    """The k chunks best matching `query` as a web-search expression (websearch_to_tsquery), best first, each with
    `rank` in [0, 1). Uses the chunks' generated tsvector and its GIN index."""
    search = AnyTermQuery(query, search_type="websearch", config=TEXT_SEARCH_CONFIG)
    chunks = _chunks_filtered(Chunk.objects.filter(search_vector=search), vault_id=vault_id, filters=filters)
    # Normalization 32 maps the cover-density rank r to r / (r + 1), into [0, 1).
    rank = SearchRank(F("search_vector"), search, cover_density=True, normalization=Value(32))
    return list(
        chunks.annotate(rank=rank)
        .select_related("document")
        .defer("embedding", "search_vector", "document__text", "document__metadata")
        .order_by("-rank", "id")[:k]
    )


class AnyTermQuery(SearchQuery):
    """websearch_to_tsquery with its implicit AND between words turned into OR.

    Questions are long ("how do libraries classify music recordings?"); requiring every word would match almost
    nothing, while ranking by how many words match (ts_rank_cd) is what keyword retrieval is for. Quoted phrases and
    excluded words (-word) keep their meaning.
    """

    def as_sql(self, compiler: Any, connection: Any, function: str | None = None, template: str | None = None):
        sql, params = super().as_sql(compiler, connection, function, template)
        return f"regexp_replace(({sql})::text, ' & (?!!)', ' | ', 'g')::tsquery", params


def _chunks_filtered(
    chunks: QuerySet[Chunk], *, vault_id: uuid.UUID | None, filters: dict[str, Any] | None
) -> QuerySet[Chunk]:
    if vault_id is not None:
        chunks = chunks.filter(document__vault_id=vault_id)
    if filters:
        chunks = chunks.filter(document__metadata__contains=filters)  # jsonb @>, served by its GIN index
    return chunks


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
