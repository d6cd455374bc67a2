"""The one ingestion pipeline: clean -> dedup -> chunk -> embed -> store, for the API, ingest_folder and the admin.

Embedding happens before any transaction; storing a document is one short transaction with bulk inserts. The
database's unique constraints decide dedup and updates, so concurrent ingests of the same text or source are safe:
the loser of a race sees the constraint fire and reports "unchanged" or turns into an update.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from psycopg.types.json import Jsonb

from documents.models import Chunk, Document, Vault
from documents.selectors import search_statistics_forget
from documents.services.chunking import TextChunk, text_chunk
from documents.services.embeddings import EmbeddingProvider, Vector, embedding_provider
from documents.services.parsing import text_clean
from documents.services.vector_index import embedding_space_ensure, vector_connection
from ragsite.errors import ServiceError, ValidationFailed, VaultNotFound
from ragsite.metrics import ingest_observe

logger = logging.getLogger(__name__)

TITLE_MAX_LENGTH = Document._meta.get_field("title").max_length
SOURCE_MAX_LENGTH = Document._meta.get_field("source").max_length
_CONTENT_CONSTRAINT = "document_content_unique_per_vault"
_SOURCE_CONSTRAINT = "document_source_unique_per_vault"


@dataclass
class IngestRequest:
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] | None = None  # None: a new document gets {}, an updated one keeps its metadata
    vault_id: uuid.UUID | None = None


@dataclass(frozen=True)
class IngestResult:
    document_id: uuid.UUID | None  # None only in a dry run, for a document that would be new
    status: str  # "indexed" | "updated" | "unchanged"
    chunk_count: int
    vault_id: uuid.UUID | None


@dataclass
class _Plan:
    """One request on its way through the pipeline."""

    index: int
    text: str
    title: str
    source: str
    metadata: dict[str, Any] | None
    vault_id: uuid.UUID | None
    content_hash: str
    document_id: uuid.UUID | None = None  # set when the request updates an existing document
    chunks: list[TextChunk] = field(default_factory=list)
    vectors: list[Vector] = field(default_factory=list)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding_input(*, title: str, text: str) -> str:
    """What is embedded for a chunk: its title and its text. Never ids or metadata (the old service embedded UUIDs)."""
    return f"{title}\n\n{text}" if title else text


def document_ingest(
    *,
    text: str,
    title: str = "",
    source: str = "",
    metadata: dict[str, Any] | None = None,
    vault: Vault | None = None,
) -> IngestResult:
    """Ingest one document; raises the ServiceError that stopped it. Side effects: as documents_ingest."""
    request = IngestRequest(
        text=text, title=title, source=source, metadata=metadata, vault_id=vault.pk if vault else None
    )
    (outcome,) = documents_ingest(requests=[request])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


@dataclass
class IngestBatch:
    """Requests on their way through the pipeline: planned, then embedded, then stored."""

    outcomes: list[IngestResult | ServiceError | None]
    pending: list[_Plan]
    model: str | None = None


def documents_ingest(
    *, requests: Sequence[IngestRequest], provider: EmbeddingProvider | None = None, dry_run: bool = False
) -> list[IngestResult | ServiceError]:
    """Ingest many documents with one batched embedding pass; one outcome per request, in order.

    Side effects: calls the embedding provider for new and changed texts only; writes the documents and their
    chunks (a failure leaves nothing of a document behind); may create the model's vector index. A dry run stops
    after chunking: no provider call, no write.
    """
    batch = documents_plan(requests=requests)
    if dry_run:
        return documents_dry_run(batch)
    documents_embed(batch, provider=provider or embedding_provider())
    return documents_store(batch)


def documents_plan(*, requests: Sequence[IngestRequest]) -> IngestBatch:
    """Clean and validate requests and settle those whose text is already stored. Side effects: database reads."""
    outcomes: list[IngestResult | ServiceError | None] = [None] * len(requests)
    plans: list[_Plan] = []
    for index, request in enumerate(requests):
        try:
            plans.append(_plan(index, request))
        except ServiceError as error:
            outcomes[index] = error
    return IngestBatch(outcomes=outcomes, pending=_unchanged_resolve(plans, outcomes))


def documents_dry_run(batch: IngestBatch) -> list[IngestResult | ServiceError]:
    """What storing the batch would do, chunk counts included, without embedding or writing anything."""
    for plan in batch.pending:
        chunks = text_chunk(text=plan.text, chunk_size=settings.CHUNK_SIZE, chunk_overlap=settings.CHUNK_OVERLAP)
        status = "updated" if plan.document_id else "indexed"
        batch.outcomes[plan.index] = IngestResult(plan.document_id, status, len(chunks), plan.vault_id)
    batch.pending = []
    return [outcome for outcome in batch.outcomes if outcome is not None]


def documents_embed(batch: IngestBatch, *, provider: EmbeddingProvider) -> None:
    """Chunk the pending documents and embed all their chunks in one batched provider call.

    Side effects: provider requests only, no database access. A provider failure becomes the outcome of every
    pending document.
    """
    inputs = documents_chunk(batch)
    try:
        vectors: Sequence[Vector | ServiceError] = provider.embed(inputs)
    except ServiceError as error:
        vectors = [error] * len(inputs)
    documents_vectors_attach(batch, vectors, model=provider.model)


def documents_chunk(batch: IngestBatch) -> list[str]:
    """Chunk the pending documents; return what is to be embedded, each document's chunks in a row, in order."""
    inputs: list[str] = []
    for plan in batch.pending:
        plan.chunks = text_chunk(text=plan.text, chunk_size=settings.CHUNK_SIZE, chunk_overlap=settings.CHUNK_OVERLAP)
        inputs.extend(embedding_input(title=plan.title, text=chunk.text) for chunk in plan.chunks)
    return inputs


def documents_vectors_attach(batch: IngestBatch, vectors: Sequence[Vector | ServiceError], *, model: str) -> None:
    """Give each pending document the vectors of its chunks (documents_chunk's order). Where an input's embedding
    failed (a ServiceError in its place), that error becomes the document's outcome and it is not stored."""
    batch.model = model
    embedded: list[_Plan] = []
    offset = 0
    for plan in batch.pending:
        mine = vectors[offset : offset + len(plan.chunks)]
        offset += len(plan.chunks)
        error = next((vector for vector in mine if isinstance(vector, ServiceError)), None)
        if error is not None:
            batch.outcomes[plan.index] = error
        else:
            plan.vectors = list(mine)  # type: ignore[arg-type]  # no error among them
            embedded.append(plan)
    batch.pending = embedded


def documents_store(batch: IngestBatch) -> list[IngestResult | ServiceError]:
    """Write an embedded batch: new documents together in one transaction, updates and races one by one.

    Side effects: may create the model's vector index; inserts and updates documents and chunks; counts the
    outcomes in the metrics.
    """
    if batch.pending:
        assert batch.model is not None, "documents_store needs an embedded batch"
        embedding_space_ensure(model=batch.model, dimensions=len(batch.pending[0].vectors[0]))
        leftovers = _store_new_together([plan for plan in batch.pending if plan.document_id is None], batch)
        for plan in [plan for plan in batch.pending if plan.document_id is not None] + leftovers:
            try:
                batch.outcomes[plan.index] = _store(plan, model=batch.model)
            except ServiceError as error:
                batch.outcomes[plan.index] = error
        batch.pending = []
        search_statistics_forget()
    outcomes = [outcome for outcome in batch.outcomes if outcome is not None]
    for outcome in outcomes:
        if isinstance(outcome, IngestResult):
            ingest_observe(status=outcome.status, chunks=outcome.chunk_count)
    return outcomes


def _store_new_together(plans: list[_Plan], batch: IngestBatch) -> list[_Plan]:
    """Insert new documents and their chunks in one transaction; return the plans a race turned away.

    A document whose text or source was stored meanwhile (by a concurrent ingest, or earlier in this batch) is
    skipped by ON CONFLICT DO NOTHING and left to _store, which settles it as unchanged or as an update.
    """
    if not plans:
        return []
    ids = {plan.index: uuid.uuid4() for plan in plans}
    try:
        with transaction.atomic():
            stored = _documents_insert(plans, ids)
            _chunks_copy(
                (ids[plan.index], chunk, vector, batch.model)
                for plan in plans
                if ids[plan.index] in stored
                for chunk, vector in zip(plan.chunks, plan.vectors, strict=True)
            )
    except IntegrityError:
        return plans  # a vault deleted meanwhile fails the deferred foreign-key check: settle one by one
    except OperationalError as error:
        # Two batches inserting the same texts in crossed order (ingest_folder's storer threads over a folder of
        # copies, or concurrent requests) wait on each other; PostgreSQL breaks the deadlock by failing one batch,
        # which then settles one by one (unchanged or updated) like any other race.
        if not isinstance(error.__cause__, psycopg.errors.DeadlockDetected):
            raise
        logger.info("event=documents_batch_deadlock count=%s", len(plans))
        return plans
    chunk_total = 0
    for plan in plans:
        if ids[plan.index] in stored:
            batch.outcomes[plan.index] = IngestResult(ids[plan.index], "indexed", len(plan.chunks), plan.vault_id)
            chunk_total += len(plan.chunks)
    logger.info("event=documents_indexed count=%s chunks=%s model=%s", len(stored), chunk_total, batch.model)
    return [plan for plan in plans if ids[plan.index] not in stored]


# One statement for a whole batch of documents; ON CONFLICT DO NOTHING leaves the ones whose text or source is
# already stored to the per-document path, and RETURNING says which went in. clock_timestamp(), not now(): the
# documents of one batch keep their order in "newest first" lists.
_INSERT_DOCUMENTS = """
    INSERT INTO documents_document (id, vault_id, title, source, metadata, text, content_hash, created_at, updated_at)
    SELECT id, vault_id, title, source, metadata, text, content_hash, clock_timestamp(), clock_timestamp()
    FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::jsonb[], %s::text[], %s::text[])
        AS batch (id, vault_id, title, source, metadata, text, content_hash)
    ON CONFLICT DO NOTHING
    RETURNING id
"""


def _documents_insert(plans: list[_Plan], ids: dict[int, uuid.UUID]) -> set[uuid.UUID]:
    columns = (
        [ids[plan.index] for plan in plans],
        [plan.vault_id for plan in plans],
        [plan.title for plan in plans],
        [plan.source for plan in plans],
        [Jsonb(plan.metadata or {}) for plan in plans],
        [plan.text for plan in plans],
        [plan.content_hash for plan in plans],
    )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_DOCUMENTS, columns)
        return {row[0] for row in cursor.fetchall()}


def _plan(index: int, request: IngestRequest) -> _Plan:
    text = text_clean(request.text)
    if not text.strip():
        raise ValidationFailed(detail={"text": ["The document has no text."]})
    title = " ".join(text_clean(request.title).split())[:TITLE_MAX_LENGTH] or _default_title(text)
    source = text_clean(request.source).strip()
    if len(source) > SOURCE_MAX_LENGTH:
        raise ValidationFailed(
            detail={"source": [f"Ensure this field has no more than {SOURCE_MAX_LENGTH} characters."]}
        )
    return _Plan(
        index=index,
        text=text,
        title=title,
        source=source,
        metadata=request.metadata,
        vault_id=request.vault_id,
        content_hash=content_hash(text),
    )


def _default_title(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "Untitled")
    return first_line[:100]


def _unchanged_resolve(plans: list[_Plan], outcomes: list[Any]) -> list[_Plan]:
    """Settle requests whose text is already stored (no provider call); mark updates; return what needs embedding."""
    if not plans:
        return []
    # One clause per vault (documents outside any vault: vault_id=None, IS NULL), not one per request: building a
    # Django Q object per request costs more than the query itself.
    hashes: dict[uuid.UUID | None, set[str]] = defaultdict(set)
    sources: dict[uuid.UUID | None, set[str]] = defaultdict(set)
    for plan in plans:
        hashes[plan.vault_id].add(plan.content_hash)
        if plan.source:
            sources[plan.vault_id].add(plan.source)
    match = Q()
    for vault_id, vault_hashes in hashes.items():
        match |= Q(vault_id=vault_id, content_hash__in=vault_hashes)
    for vault_id, vault_sources in sources.items():
        match |= Q(vault_id=vault_id, source__in=vault_sources)
    existing = list(
        Document.objects.filter(match)
        .annotate(n_chunks=Count("chunks"))
        .values("id", "vault_id", "content_hash", "source", "n_chunks")
    )
    by_content = {(row["vault_id"], row["content_hash"]): row for row in existing}
    by_source = {(row["vault_id"], row["source"]): row for row in existing if row["source"]}

    pending: list[_Plan] = []
    first_of_content: dict[tuple[uuid.UUID | None, str], _Plan] = {}
    for plan in plans:
        key = (plan.vault_id, plan.content_hash)
        row = by_content.get(key)
        if row is not None:
            outcomes[plan.index] = IngestResult(row["id"], "unchanged", row["n_chunks"], plan.vault_id)
            continue
        if key in first_of_content:
            # The same text twice in one batch: both are embedded, the first is stored, and the second then meets
            # the unique constraint and is reported unchanged (rare enough not to deduplicate the embedding).
            pending.append(plan)
            continue
        first_of_content[key] = plan
        source_row = by_source.get((plan.vault_id, plan.source)) if plan.source else None
        if source_row is not None:
            plan.document_id = source_row["id"]
        pending.append(plan)
    return pending


def _store(plan: _Plan, *, model: str) -> IngestResult:
    """Write one embedded document in one transaction, resolving races through the unique constraints."""
    for _ in range(3):
        try:
            with transaction.atomic():
                if plan.document_id is None:
                    document = Document.objects.create(
                        vault_id=plan.vault_id,
                        title=plan.title,
                        source=plan.source,
                        metadata=plan.metadata or {},
                        text=plan.text,
                        content_hash=plan.content_hash,
                    )
                    status = "indexed"
                else:
                    document = Document.objects.select_for_update().filter(pk=plan.document_id).first()
                    if document is None:  # deleted since we looked: store it as a new document
                        plan.document_id = None
                        continue
                    if document.content_hash == plan.content_hash:  # a concurrent update stored this very text
                        return IngestResult(document.pk, "unchanged", document.chunks.count(), plan.vault_id)
                    document.title = plan.title
                    if plan.metadata is not None:
                        document.metadata = plan.metadata
                    document.text, document.content_hash = plan.text, plan.content_hash
                    document.save()
                    status = "updated"
                chunks_store(
                    document=document,
                    chunks=plan.chunks,
                    vectors=plan.vectors,
                    model=model,
                    replace=status == "updated",
                )
            logger.info(
                "event=document_%s document_id=%s chunks=%s model=%s", status, document.pk, len(plan.chunks), model
            )
            return IngestResult(document.pk, status, len(plan.chunks), plan.vault_id)
        except IntegrityError as exc:
            constraint = _violated_constraint(exc)
            if constraint == _CONTENT_CONSTRAINT:
                existing = Document.objects.filter(vault_id=plan.vault_id, content_hash=plan.content_hash).first()
                if existing is not None:
                    return IngestResult(existing.pk, "unchanged", existing.chunks.count(), plan.vault_id)
            elif constraint == _SOURCE_CONSTRAINT:
                existing = Document.objects.filter(vault_id=plan.vault_id, source=plan.source).first()
                if existing is not None:
                    plan.document_id = existing.pk
                continue
            elif constraint and constraint.startswith("documents_document_vault_id"):
                raise VaultNotFound(detail=f"no vault with id {plan.vault_id}") from None
            else:
                raise
    raise ServiceError("The document kept changing while it was stored; try again", code="CONFLICT", status=409)


def chunks_store(
    *, document: Document, chunks: Sequence[TextChunk], vectors: Sequence[Vector], model: str, replace: bool
) -> None:
    """Insert a document's chunks, replacing its old ones if `replace`. Runs inside the caller's transaction, so
    readers see either the old chunks or the new ones, never a mix."""
    if replace:
        Chunk.objects.filter(document=document).delete()
    _chunks_copy((document.pk, chunk, vector, model) for chunk, vector in zip(chunks, vectors, strict=True))


_COPY_CHUNKS = (
    "COPY documents_chunk (document_id, position, text, token_count, embedding, embedding_model) "
    "FROM STDIN WITH (FORMAT BINARY)"
)


def _chunks_copy(rows: Iterable[tuple[uuid.UUID, TextChunk, Vector, str]]) -> None:
    """Bulk-insert chunks with COPY in binary: vectors travel as 4-byte floats instead of decimal text, which
    makes storing a fifth of the cost of INSERT ... VALUES."""
    with vector_connection().cursor() as cursor, cursor.copy(_COPY_CHUNKS) as copy:
        copy.set_types(["uuid", "int4", "text", "int4", "vector", "text"])
        for document_id, chunk, vector, model in rows:
            copy.write_row(
                (document_id, chunk.position, chunk.text, chunk.token_count, np.asarray(vector, np.float32), model)
            )


def _violated_constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
