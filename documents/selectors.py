"""Reads of documents and chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from documents.models import Chunk, Document, EmbeddingSpace, Vault
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
    *, query_vector: Sequence[float], model: str, k: int, vault_id: uuid.UUID | None = None
) -> QuerySet[Chunk]:
    """The k chunks embedded with `model` nearest to query_vector (cosine), nearest first, with `distance`.

    The ordering expression and the `embedding_model` filter repeat the partial HNSW index definition exactly,
    which is what lets PostgreSQL use the index (see documents/services/vector_index.py).
    """
    space = EmbeddingSpace.objects.filter(model=model).first()
    if space is None or space.dimensions != len(query_vector):
        return Chunk.objects.none()
    cast = vector_cast(space.dimensions)
    field = (VectorField if cast.type == "vector" else HalfVectorField)(dimensions=cast.dimensions)
    chunks = Chunk.objects.filter(embedding_model=model)
    if vault_id is not None:
        chunks = chunks.filter(document__vault_id=vault_id)
    return chunks.annotate(distance=CosineDistance(Cast("embedding", field), list(query_vector))).order_by("distance")[
        :k
    ]
