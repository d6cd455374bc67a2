"""One partial HNSW index per embedding model over the untyped `embedding` column.

Chunks of several models (of different widths) share one column; each model's index covers only its rows,
`USING hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE embedding_model = '<model>'`, and searches repeat
that expression and predicate so the planner picks it (documents/selectors.py). Switching the embedding model
therefore never breaks the index of the old one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection
from pgvector.psycopg import register_vector
from psycopg import sql

from documents.models import Chunk, EmbeddingSpace

logger = logging.getLogger(__name__)

# pgvector's HNSW indexes vectors of up to 2,000 dimensions and half-precision vectors of up to 4,000.
MAX_VECTOR_INDEX_DIMENSIONS = 2000
MAX_HALFVEC_INDEX_DIMENSIONS = 4000
MAX_DIMENSIONS = 16000


@dataclass(frozen=True)
class VectorCast:
    """How a model's vectors are cast for its index and its queries: `embedding::<type>(<dimensions>)`."""

    type: str
    dimensions: int

    @property
    def opclass(self) -> str:
        return f"{self.type}_cosine_ops"

    @property
    def indexed(self) -> bool:
        return self.dimensions <= MAX_HALFVEC_INDEX_DIMENSIONS


def vector_cast(dimensions: int) -> VectorCast:
    """The cast for a width: full precision where HNSW allows it, half precision above (text-embedding-3-large)."""
    return VectorCast("vector" if dimensions <= MAX_VECTOR_INDEX_DIMENSIONS else "halfvec", dimensions)


# psycopg connections that know pgvector's types (weak: a closed connection is dropped with its wrapper).
_vector_ready: weakref.WeakSet[Any] = weakref.WeakSet()


def vector_connection() -> Any:
    """This thread's psycopg connection (in Django's transaction, if any), with pgvector's types registered, so
    vectors travel in binary: 6 KB for 1,536 dimensions, against 20 KB of decimal text that took 0.7 ms to format
    and as long again for PostgreSQL to parse. Run statements on it inside `connection.wrap_database_errors`."""
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _vector_ready:
        register_vector(raw)  # before cursors are made: a cursor copies its connection's type registry
        _vector_ready.add(raw)
    return raw


def _index_name(model: str) -> str:
    # Model names are free text ("BAAI/bge-m3:latest"); a digest makes a valid, unique identifier within 63 bytes.
    return "chunk_embedding_hnsw_" + hashlib.sha256(model.encode()).hexdigest()[:16]


# Models whose index a bulk load in this process is holding back (see embedding_index_deferred).
_deferred: set[str] = set()
_deferred_lock = threading.Lock()

# A load at least this large, and at least as large as what the model already has, builds the index afterwards.
BULK_LOAD_MIN_CHUNKS = 1000


@contextmanager
def embedding_index_deferred(*, model: str, incoming: int) -> Iterator[bool]:
    """Bulk loads: build the model's index once after loading instead of inserting into it row by row.

    pgvector builds an HNSW index several times faster than it inserts into one (on CISI: 0.4 s against 2.8 s),
    so when `incoming` chunks would at least double what the model has, its index is dropped for the load and
    rebuilt concurrently at the end. Meanwhile searches of this model scan without the index (correct, slower),
    and an ingest in another process simply recreates the index. Yields whether the index was deferred.
    """
    existing = Chunk.objects.filter(embedding_model=model).count()
    space = EmbeddingSpace.objects.filter(model=model).first()
    if incoming < max(BULK_LOAD_MIN_CHUNKS, existing):
        yield False
        return
    with _deferred_lock:
        _deferred.add(model)
    try:
        if space is not None:
            with connection.cursor() as cursor:
                drop = sql.SQL("DROP INDEX {concurrently} IF EXISTS {name}").format(
                    concurrently=sql.SQL("" if connection.in_atomic_block else "CONCURRENTLY"),
                    name=sql.Identifier(space.index_name),
                )
                cursor.execute(drop.as_string(cursor.connection))
        logger.info("event=embedding_index_deferred model=%s incoming=%s existing=%s", model, incoming, existing)
        yield True
    finally:
        with _deferred_lock:
            _deferred.discard(model)
        space = EmbeddingSpace.objects.filter(model=model).first()
        if space is not None:
            embedding_space_ensure(model=model, dimensions=space.dimensions)


def embedding_space_ensure(*, model: str, dimensions: int) -> EmbeddingSpace:
    """Register an embedding model and create its HNSW index on first use; return its space.

    Side effects: inserts an EmbeddingSpace row and runs CREATE INDEX (CONCURRENTLY outside a transaction, so
    ingestion of other models and searches go on while it builds).
    """
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"embedding width {dimensions} is outside 1..{MAX_DIMENSIONS}")
    space, _ = EmbeddingSpace.objects.get_or_create(
        model=model, defaults={"dimensions": dimensions, "index_name": _index_name(model)}
    )
    if space.dimensions != dimensions:
        raise ValueError(f"model {model!r} produced {dimensions}-wide vectors, but is registered as {space.dimensions}")
    cast = vector_cast(dimensions)
    if model in _deferred:
        return space
    if not cast.indexed:
        logger.warning("event=embedding_index_skipped model=%s dimensions=%s reason=too_wide", model, dimensions)
        return space
    _index_create(space=space, cast=cast)
    return space


def _index_state(cursor: Any, name: str) -> bool | None:
    """True: the index exists and is valid; False: it exists but is invalid; None: there is none."""
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", [name]
    )
    row = cursor.fetchone()
    return None if row is None else bool(row[0])


def _index_create(*, space: EmbeddingSpace, cast: VectorCast) -> None:
    with connection.cursor() as cursor:
        if _index_state(cursor, space.index_name):
            return  # the common case: nothing to lock, nothing to build
        concurrently = not connection.in_atomic_block
        lock_key = int(hashlib.sha256(space.index_name.encode()).hexdigest()[:15], 16)
        raw = cursor.connection
        # Two processes meeting a new model at once would both build the index, so one waits for the other. It
        # polls instead of blocking in pg_advisory_lock: CREATE INDEX CONCURRENTLY waits for every open snapshot,
        # including that of a session blocked on the lock, which would deadlock.
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key])
            if cursor.fetchone()[0]:
                break
            time.sleep(0.05)
        try:
            state = _index_state(cursor, space.index_name)
            if state is False:
                # An interrupted CONCURRENTLY build leaves an invalid index that IF NOT EXISTS would keep.
                logger.warning("event=embedding_index_rebuild index=%s reason=invalid", space.index_name)
                cursor.execute(
                    sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(space.index_name)).as_string(raw)
                )
            if not state:
                statement = sql.SQL(
                    "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON documents_chunk "
                    "USING hnsw ((embedding::{type}({dimensions})) {opclass}) WHERE embedding_model = {model}"
                ).format(
                    concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
                    name=sql.Identifier(space.index_name),
                    type=sql.SQL(cast.type),
                    dimensions=sql.Literal(cast.dimensions),
                    opclass=sql.SQL(cast.opclass),
                    # DDL takes no bind parameters: the model name is quoted as a literal by psycopg.
                    model=sql.Literal(space.model),
                )
                if not concurrently:
                    # Inside a transaction (tests, callers' atomic blocks) PostgreSQL refuses to index a table with
                    # deferred foreign-key checks pending; running them now changes nothing else.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(statement.as_string(raw))
                logger.info(
                    "event=embedding_index_created index=%s model=%s dimensions=%s",
                    space.index_name,
                    space.model,
                    cast.dimensions,
                )
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
