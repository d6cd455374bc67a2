"""Vaults (collections), documents and their chunks, and the embedding models chunks have been embedded with."""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from pgvector.django import VectorField

# Full-text search configuration of the chunk tsvector; queries must use the same one to hit the GIN index.
TEXT_SEARCH_CONFIG = "english"


class Vault(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="vault_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # DO_NOTHING here and ON DELETE CASCADE in the database (migration 0001): deleting a vault removes its
    # documents in one statement instead of Django collecting them in Python.
    vault = models.ForeignKey(Vault, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="documents")
    title = models.CharField(max_length=500)
    source = models.CharField(max_length=2000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    text = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="sha256 of the text")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at"], name="document_created_idx")]
        constraints = [
            # Dedup is the database's job, so two identical ingests at the same moment still make one document.
            # NULLS NOT DISTINCT: documents outside any vault dedupe among themselves too.
            models.UniqueConstraint(
                fields=["vault", "content_hash"], name="document_content_unique_per_vault", nulls_distinct=False
            ),
            models.UniqueConstraint(
                fields=["vault", "source"],
                condition=~Q(source=""),
                name="document_source_unique_per_vault",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.DO_NOTHING, related_name="chunks")
    position = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    # Untyped vector: chunks of several embedding models (of different widths) live side by side. Each model
    # gets its own partial HNSW index over embedding::vector(N) (documents/services/vector_index.py).
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=TEXT_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="chunk_position_unique")]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            models.Index(fields=["embedding_model"], name="chunk_embedding_model_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"


class EmbeddingSpace(models.Model):
    """An embedding model chunks have been embedded with: its width and the HNSW index serving it."""

    model = models.CharField(max_length=200, unique=True)
    dimensions = models.PositiveIntegerField()
    index_name = models.CharField(max_length=63, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.model} ({self.dimensions})"
