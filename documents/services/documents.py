"""Stored documents: delete and re-embed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from documents.models import Document
from documents.selectors import search_statistics_forget
from documents.services.chunking import text_chunk
from documents.services.embeddings import EmbeddingProvider, embedding_provider
from documents.services.ingest import chunks_store, embedding_input
from documents.services.vector_index import embedding_space_ensure
from ragsite.apikeys.scoping import in_vault_scope
from ragsite.errors import DocumentNotFound

logger = logging.getLogger(__name__)


def document_delete(*, document_id: uuid.UUID, vault_scope: uuid.UUID | None = None) -> None:
    """Delete a document and its chunks (ON DELETE CASCADE, one statement); DocumentNotFound if there is none (or,
    with `vault_scope`, none in that vault)."""
    deleted, _ = in_vault_scope(Document.objects.filter(pk=document_id), vault_scope).delete()
    if not deleted:
        raise DocumentNotFound(detail=f"no document with id {document_id}")
    search_statistics_forget()
    logger.info("event=document_deleted document_id=%s", document_id)


def documents_delete(*, document_ids: Iterable[uuid.UUID]) -> int:
    """Delete several documents with their chunks in one statement; returns how many existed."""
    # DO_NOTHING in the model, so Django issues one DELETE and its count is the documents' alone.
    deleted, _ = Document.objects.filter(pk__in=list(document_ids)).delete()
    search_statistics_forget()
    logger.info("event=documents_deleted count=%s", deleted)
    return deleted


def documents_reembed(*, documents: Iterable[Document], provider: EmbeddingProvider | None = None) -> int:
    """Re-chunk and re-embed documents with the configured model; returns how many were swapped.

    Side effects: provider calls (outside any transaction), then per document one transaction that swaps old
    chunks for new ones, so the document stays searchable throughout. A document edited or deleted meanwhile is
    left to that newer write.
    """
    provider = provider or embedding_provider()
    documents = list(documents)
    plans = [
        (document, text_chunk(text=document.text, chunk_size=settings.CHUNK_SIZE, chunk_overlap=settings.CHUNK_OVERLAP))
        for document in documents
    ]
    inputs = [embedding_input(title=document.title, text=chunk.text) for document, chunks in plans for chunk in chunks]
    vectors = provider.embed(inputs)
    if vectors:
        embedding_space_ensure(model=provider.model, dimensions=len(vectors[0]))
    swapped, offset = 0, 0
    for document, chunks in plans:
        document_vectors = vectors[offset : offset + len(chunks)]
        offset += len(chunks)
        with transaction.atomic():
            current = (
                Document.objects.select_for_update().filter(pk=document.pk, content_hash=document.content_hash).first()
            )
            if current is None:
                continue
            chunks_store(document=current, chunks=chunks, vectors=document_vectors, model=provider.model, replace=True)
            swapped += 1
    logger.info("event=documents_reembedded count=%s model=%s", swapped, provider.model)
    return swapped
