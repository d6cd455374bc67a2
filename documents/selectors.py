"""Reads of documents and chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db.models import QuerySet
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from documents.models import Chunk, EmbeddingSpace
from documents.services.vector_index import vector_cast


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
